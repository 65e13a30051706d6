"""The versioned ciphertext format and AES-256-GCM with associated data.

Version 1, byte by byte::

    b"KGE" | 0x01 | kind (0x01 bytes, 0x02 UTF-8 text) | len(key id) | key id (ASCII)
          | nonce (12) | ciphertext + GCM tag (16)

The associated data is the whole header followed by the length-prefixed context parts
(for a column: table, row id, column; for a blob: ``blob``, blob id, ``content``), so a
ciphertext that is moved to another row, column or blob, or whose header is edited, fails.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kallglot.crypto.errors import DecryptionError

MAGIC = b"KGE"
VERSION_1 = 1
KIND_BYTES = 1
KIND_TEXT = 2
NONCE_BYTES = 12
TAG_BYTES = 16


@dataclass(frozen=True)
class Envelope:
    version: int
    kind: int
    key_id: str
    header: bytes
    nonce: bytes
    sealed: bytes


def context_bytes(*parts: str) -> bytes:
    """Length-prefixed parts, so ("ab", "c") and ("a", "bc") never collide."""
    out = bytearray()
    for part in parts:
        raw = part.encode()
        out += struct.pack(">I", len(raw)) + raw
    return bytes(out)


def seal(key: bytes, key_id: str, plaintext: str | bytes, context: bytes) -> bytes:
    kind = KIND_TEXT if isinstance(plaintext, str) else KIND_BYTES
    data = plaintext.encode() if isinstance(plaintext, str) else plaintext
    raw_id = key_id.encode("ascii")
    header = MAGIC + bytes([VERSION_1, kind, len(raw_id)]) + raw_id
    nonce = secrets.token_bytes(NONCE_BYTES)
    return header + nonce + AESGCM(key).encrypt(nonce, data, header + context)


def parse(ciphertext: bytes) -> Envelope:
    """Read the header; raises DecryptionError for anything that is not a known format."""
    if len(ciphertext) < 6 or ciphertext[:3] != MAGIC:
        raise DecryptionError("not a Kallglot ciphertext")
    version, kind, id_len = ciphertext[3], ciphertext[4], ciphertext[5]
    if version != VERSION_1:
        raise DecryptionError(f"unknown ciphertext version {version}")
    if kind not in (KIND_BYTES, KIND_TEXT):
        raise DecryptionError("unknown ciphertext kind")
    header_end = 6 + id_len
    if len(ciphertext) < header_end + NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("ciphertext is truncated")
    try:
        key_id = ciphertext[6:header_end].decode("ascii")
    except UnicodeDecodeError:
        raise DecryptionError("ciphertext header is corrupt") from None
    return Envelope(
        version=version,
        kind=kind,
        key_id=key_id,
        header=ciphertext[:header_end],
        nonce=ciphertext[header_end : header_end + NONCE_BYTES],
        sealed=ciphertext[header_end + NONCE_BYTES :],
    )


def open_envelope(key: bytes, envelope: Envelope, context: bytes) -> str | bytes:
    try:
        data = AESGCM(key).decrypt(envelope.nonce, envelope.sealed, envelope.header + context)
    except InvalidTag:
        raise DecryptionError(
            "ciphertext failed authentication (tampered, or moved to another row or column)"
        ) from None
    return data.decode() if envelope.kind == KIND_TEXT else data
