"""The encrypted blob store: recordings, documents and other large objects.

A :class:`BlobBackend` stores opaque bytes by name (a local folder ships; an S3-compatible
bucket implements the same four methods). :class:`EncryptedBlobStore` encrypts each blob
with the organization's (or subject's) data key, bound to the blob id, before it reaches the
backend, so the backend only ever sees ciphertext.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from kallglot.core.errors import NotFoundError, ValidationFailedError
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings
from kallglot.crypto.envelope import context_bytes, open_envelope, parse, seal
from kallglot.crypto.keyring import Keyring, get_keyring

_BLOB_NAME = re.compile(r"^[A-Za-z0-9_]{8,80}$")


def _check_name(name: str) -> str:
    if not _BLOB_NAME.match(name):
        raise ValidationFailedError("invalid blob id", param="blob_id")
    return name


class BlobBackend(Protocol):
    """Raw object storage. ``write`` is all-or-nothing: a reader never sees half a blob."""

    def write(self, name: str, data: bytes) -> None: ...

    def read(self, name: str) -> bytes: ...

    def delete(self, name: str) -> bool: ...

    def exists(self, name: str) -> bool: ...


class LocalBlobBackend:
    """Files under one folder, fanned out by the id's last two characters."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        _check_name(name)
        return self.root / name[-2:].lower() / name

    def write(self, name: str, data: bytes) -> None:
        target = self.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        _fsync_dir(target.parent)

    def read(self, name: str) -> bytes:
        try:
            return self.path(name).read_bytes()
        except FileNotFoundError:
            raise NotFoundError("no such blob", param="blob_id") from None

    def delete(self, name: str) -> bool:
        try:
            self.path(name).unlink()
        except FileNotFoundError:
            return False
        return True

    def exists(self, name: str) -> bool:
        return self.path(name).exists()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def blob_context(blob_id: str) -> bytes:
    return context_bytes("blob", blob_id, "content")


class EncryptedBlobStore:
    """Put, get and delete blobs; only ciphertext ever reaches the backend."""

    def __init__(self, backend: BlobBackend, keyring: Keyring | None = None) -> None:
        self.backend = backend
        self._keyring = keyring

    @classmethod
    def from_settings(
        cls, settings: Settings, keyring: Keyring | None = None
    ) -> EncryptedBlobStore:
        return cls(LocalBlobBackend(settings.effective_blob_dir), keyring)

    @property
    def keyring(self) -> Keyring:
        return self._keyring or get_keyring()

    def put(
        self,
        session: Session,
        organization_id: str,
        data: bytes,
        *,
        subject_ref: str | None = None,
        blob_id: str | None = None,
    ) -> str:
        """Encrypt and store ``data``; returns the blob id to keep in the owning row."""
        blob_id = _check_name(blob_id or new_id("blob"))
        handle = self.keyring.data_key(session, organization_id, subject_ref)
        self.backend.write(blob_id, seal(handle.key, handle.id, data, blob_context(blob_id)))
        return blob_id

    def get(self, session: Session, blob_id: str) -> bytes:
        """The plaintext; ``KeyDestroyedError`` once its key is shredded."""
        envelope = parse(self.backend.read(_check_name(blob_id)))
        key = self.keyring.key_by_id(session, envelope.key_id)
        data = open_envelope(key, envelope, blob_context(blob_id))
        return data if isinstance(data, bytes) else data.encode()

    def delete(self, blob_id: str) -> bool:
        """Remove a blob; True if it existed (deleting twice is fine)."""
        return self.backend.delete(_check_name(blob_id))
