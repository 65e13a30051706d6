"""The backup file format: an authenticated header, then an AES-256-GCM sealed stream of frames.

On disk::

    b"KGBACKUP" | version (1) | len(header) u32 | header (JSON, plain but authenticated)
    | chunks: len(sealed) u32 | AES-256-GCM(archive key, nonce, plaintext chunk, header)

The header names the backup, its creation time and the master key that wraps the random
archive key (the wrapped key itself is in the header); nothing else is readable without that
master key. Each chunk's nonce is its index (11 bytes) and a last-chunk flag (1 byte); the
header is the associated data of every chunk. So a chunk moved, dropped, edited, or an archive
cut short after any chunk but the flagged last one, fails authentication.

The decrypted stream is a sequence of frames::

    kind (1) | len(name) u32 | name (UTF-8) | len(payload) u64 | payload
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kallglot.core.errors import InvalidRequestError

MAGIC = b"KGBACKUP"
FORMAT_VERSION = 1
CHUNK_BYTES = 1024 * 1024
TAG_BYTES = 16
_U32 = struct.Struct(">I")
_FRAME_HEAD = struct.Struct(">BI")
_U64 = struct.Struct(">Q")
_MAX_HEADER_BYTES = 64 * 1024


class BackupError(InvalidRequestError):
    """A backup cannot be read or restored; the message says why, nothing was changed."""

    code = "backup_invalid"


class FrameKind(IntEnum):
    ROWS = 1  # name: table; payload: JSON list of rows (lists of column values)
    BLOB = 2  # name: blob id; payload: the blob's bytes (ciphertext of the blob store)
    MANIFEST = 3  # payload: the manifest JSON, always the last frame


@dataclass(frozen=True)
class ArchiveHeader:
    backup_id: str
    created_at: datetime
    master_key_id: str
    wrapped_key: bytes

    def encode(self) -> bytes:
        body = json.dumps(
            {
                "format": FORMAT_VERSION,
                "backup_id": self.backup_id,
                "created_at": self.created_at.isoformat(),
                "master_key_id": self.master_key_id,
                "wrapped_key": base64.b64encode(self.wrapped_key).decode(),
            },
            sort_keys=True,
        ).encode()
        return MAGIC + bytes([FORMAT_VERSION]) + _U32.pack(len(body)) + body


def read_header(source: BinaryIO) -> tuple[ArchiveHeader, bytes]:
    """The header and its raw bytes (the chunks' associated data); BackupError if not one."""
    prefix = source.read(len(MAGIC) + 1 + _U32.size)
    if len(prefix) < len(MAGIC) + 1 + _U32.size or prefix[: len(MAGIC)] != MAGIC:
        raise BackupError("not a Kallglot backup file")
    if prefix[len(MAGIC)] != FORMAT_VERSION:
        raise BackupError(f"unknown backup format version {prefix[len(MAGIC)]}")
    (length,) = _U32.unpack(prefix[len(MAGIC) + 1 :])
    if length > _MAX_HEADER_BYTES:
        raise BackupError("the backup header is corrupt")
    body = source.read(length)
    try:
        fields = json.loads(body)
        header = ArchiveHeader(
            backup_id=str(fields["backup_id"]),
            created_at=datetime.fromisoformat(fields["created_at"]),
            master_key_id=str(fields["master_key_id"]),
            wrapped_key=base64.b64decode(fields["wrapped_key"], validate=True),
        )
    except (ValueError, KeyError, TypeError):
        raise BackupError("the backup header is corrupt") from None
    return header, prefix + body


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class SealedWriter:
    """Buffers plaintext and writes it as sealed chunks; ``close`` seals the flagged last one."""

    def __init__(self, sink: BinaryIO, key: bytes, header_bytes: bytes) -> None:
        self._sink, self._aead, self._aad = sink, AESGCM(key), header_bytes
        self._buffer = bytearray()
        self._index = 0
        sink.write(header_bytes)

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) > CHUNK_BYTES:
            self._emit(bytes(self._buffer[:CHUNK_BYTES]), last=False)
            del self._buffer[:CHUNK_BYTES]

    def write_frame(self, kind: FrameKind, name: str, payload: bytes) -> None:
        raw_name = name.encode()
        self.write(_FRAME_HEAD.pack(kind, len(raw_name)) + raw_name + _U64.pack(len(payload)))
        self.write(payload)

    def close(self) -> None:
        self._emit(bytes(self._buffer), last=True)
        self._buffer.clear()

    def _emit(self, chunk: bytes, *, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._index, last), chunk, self._aad)
        self._sink.write(_U32.pack(len(sealed)) + sealed)
        self._index += 1


class SealedReader:
    """Reads back what :class:`SealedWriter` wrote, authenticating every chunk on the way."""

    def __init__(self, source: BinaryIO, key: bytes, header_bytes: bytes) -> None:
        self._source, self._aead, self._aad = source, AESGCM(key), header_bytes
        self._buffer = bytearray()
        self._index = 0
        self._ended = False

    def frames(self) -> Iterator[tuple[FrameKind, str, bytes]]:
        """Every frame in order; raises BackupError on tampering or truncation."""
        while True:
            head = self._read(_FRAME_HEAD.size, allow_end=True)
            if head is None:
                return
            kind, name_length = _FRAME_HEAD.unpack(head)
            name = self._exact(name_length).decode()
            (payload_length,) = _U64.unpack(self._exact(_U64.size))
            try:
                frame_kind = FrameKind(kind)
            except ValueError:
                raise BackupError("the backup holds an unknown kind of record") from None
            yield frame_kind, name, self._exact(payload_length)

    def _exact(self, size: int) -> bytes:
        data = self._read(size, allow_end=False)
        assert data is not None
        return data

    def _read(self, size: int, *, allow_end: bool) -> bytes | None:
        while len(self._buffer) < size and not self._ended:
            self._next_chunk()
        if len(self._buffer) < size:
            if allow_end and not self._buffer:
                return None
            raise BackupError("the backup is truncated")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _next_chunk(self) -> None:
        prefix = self._source.read(_U32.size)
        if len(prefix) < _U32.size:
            raise BackupError("the backup is truncated (its last part is missing)")
        (length,) = _U32.unpack(prefix)
        if length < TAG_BYTES or length > CHUNK_BYTES + TAG_BYTES:
            raise BackupError("the backup is corrupt")
        sealed = self._source.read(length)
        for last in (False, True):
            try:
                chunk = self._aead.decrypt(_nonce(self._index, last), sealed, self._aad)
            except InvalidTag:
                continue
            self._buffer += chunk
            self._index += 1
            if last:
                if self._source.read(1):
                    raise BackupError("the backup has data after its last part")
                self._ended = True
            return
        raise BackupError("the backup failed authentication: it was altered or is corrupt")
