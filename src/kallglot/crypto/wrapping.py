"""Wrapping data keys with a master key: the one small interface where a KMS plugs in.

``LocalKeyWrapper`` ships: AES-256-GCM under master keys from settings. An AWS KMS or Vault
Transit implementation provides the same three members (``current_key_id``, ``wrap``,
``unwrap``) and is handed to :class:`kallglot.crypto.keyring.Keyring` instead.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kallglot.crypto.errors import DecryptionError, KeyUnavailableError

NONCE_BYTES = 12


@dataclass(frozen=True)
class WrappedKey:
    master_key_id: str
    wrapped: bytes


class KeyWrapper(Protocol):
    """Wraps and unwraps data keys; ``context`` is bound as associated data."""

    @property
    def current_key_id(self) -> str: ...

    def wrap(self, data_key: bytes, *, context: bytes) -> WrappedKey: ...

    def unwrap(self, wrapped: bytes, *, master_key_id: str, context: bytes) -> bytes: ...


def local_key_id(master_key: bytes) -> str:
    """A public fingerprint of a master key (never the key itself)."""
    digest = hashlib.sha256(b"kallglot master key id v1\x00" + master_key).hexdigest()
    return f"local:{digest[:16]}"


class LocalKeyWrapper:
    """Master keys held in process: the current one wraps, every known one unwraps."""

    def __init__(self, current: bytes, previous: list[bytes] | None = None) -> None:
        keys = [current, *(previous or [])]
        for key in keys:
            if len(key) != 32:
                raise ValueError("master keys are 32 bytes")
        self._current_id = local_key_id(current)
        self._keys = {local_key_id(key): AESGCM(key) for key in keys}

    @property
    def current_key_id(self) -> str:
        return self._current_id

    def wrap(self, data_key: bytes, *, context: bytes) -> WrappedKey:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._keys[self._current_id].encrypt(nonce, data_key, context)
        return WrappedKey(master_key_id=self._current_id, wrapped=nonce + sealed)

    def unwrap(self, wrapped: bytes, *, master_key_id: str, context: bytes) -> bytes:
        aead = self._keys.get(master_key_id)
        if aead is None:
            raise KeyUnavailableError(
                f"master key {master_key_id} is not configured; add it to "
                "KALLGLOT_PREVIOUS_MASTER_KEYS and run `kallglot keys rotate`"
            )
        try:
            return aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context)
        except InvalidTag:
            raise DecryptionError("a wrapped data key failed authentication") from None
