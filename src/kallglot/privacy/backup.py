"""Encrypted backups of the database and the blob store, for disaster recovery only.

``create_backup`` takes a consistent snapshot — SQLite through the sqlite3 online backup API
into a scratch copy, PostgreSQL inside one ``REPEATABLE READ`` transaction — and writes every
table of the schema as a logical dump (rows as JSON, typed by the schema's columns), then
every blob, then a manifest (creation time, schema revision, row counts and checksums) into
one archive sealed with a fresh AES-256-GCM key that the master key wraps
(:mod:`kallglot.privacy.backup_archive`). The logical dump is the same for both databases,
so one restore path serves both (and a SQLite backup restores into PostgreSQL); ``pg_dump``
is not installed here and would tie the archive to one server version.

:func:`kallglot.privacy.restore.restore_backup` checks the whole archive first (key,
authentication, checksums, schema revision), then replaces every row in one transaction,
re-applies every erasure of the :mod:`erasure ledger <kallglot.privacy.erasure_ledger>` that
the backup does not contain, commits, and only then swaps the restored blob folder in. Any
failure before the commit leaves the database and the blobs as they were.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import (
    JSON,
    Connection,
    Date,
    DateTime,
    LargeBinary,
    Numeric,
    Table,
    create_engine,
    null,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.types import Float, TypeDecorator, TypeEngine

from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings
from kallglot.crypto import KeyUnavailableError
from kallglot.crypto.errors import DecryptionError
from kallglot.crypto.keyring import Keyring
from kallglot.db import migrate
from kallglot.db.engine import build_engine
from kallglot.db.registry import metadata
from kallglot.privacy.backup_archive import (
    ArchiveHeader,
    BackupError,
    FrameKind,
    SealedReader,
    SealedWriter,
    read_header,
)
from kallglot.privacy.erasure_ledger import ErasureLedger
from kallglot.privacy.models import SubjectRequest

BACKUP_SUFFIX = ".kgbackup"
ROWS_PER_FRAME = 500
Progress = Callable[[str], None]


def quiet(_message: str) -> None:
    """The default progress sink: say nothing."""


def _wrap_context(backup_id: str) -> bytes:
    return b"kallglot backup key v1\x00" + backup_id.encode()


# --- values <-> JSON, typed by the schema's columns --------------------------------------


def _base_type(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
    if isinstance(column_type, TypeDecorator):
        return _base_type(column_type.impl_instance)
    return column_type


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def column_decoder(column_type: TypeEngine[Any]) -> Callable[[Any], Any]:
    base = _base_type(column_type)
    if isinstance(base, JSON):
        # SQL NULL stays SQL NULL (not the JSON document ``null``).
        return lambda value: null() if value is None else value
    if isinstance(base, LargeBinary):
        return lambda value: None if value is None else base64.b64decode(value)
    if isinstance(base, DateTime):
        return lambda value: None if value is None else datetime.fromisoformat(value)
    if isinstance(base, Date):
        return lambda value: None if value is None else date.fromisoformat(value)
    if isinstance(base, Numeric) and not isinstance(base, Float):
        return lambda value: None if value is None else Decimal(value)
    return lambda value: value


# --- the manifest ------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    backup_id: str
    created_at: datetime
    schema_revision: str
    source_backend: str
    tables: dict[str, dict[str, Any]]  # name -> {"columns", "rows", "sha256"}
    blobs: dict[str, Any]  # {"count", "bytes", "sha256"}
    erasures_included: list[str]  # completed erasure requests the snapshot already reflects

    def encode(self) -> bytes:
        return json.dumps(
            {
                "backup_id": self.backup_id,
                "created_at": self.created_at.isoformat(),
                "schema_revision": self.schema_revision,
                "source_backend": self.source_backend,
                "tables": self.tables,
                "blobs": self.blobs,
                "erasures_included": self.erasures_included,
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Manifest:
        fields = json.loads(raw)
        fields["created_at"] = datetime.fromisoformat(fields["created_at"])
        return cls(**fields)


class Digests:
    """Row counts and SHA-256 of what was written (or read) per table, and over all blobs."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {}
        self._table_hashes: dict[str, Any] = {}
        self.blob_count = 0
        self.blob_bytes = 0
        self._blob_hash = hashlib.sha256()

    def rows(self, table: Table, payload: bytes, count: int) -> None:
        entry = self.tables.setdefault(
            table.name, {"columns": [c.name for c in table.columns], "rows": 0}
        )
        entry["rows"] += count
        self._table_hashes.setdefault(table.name, hashlib.sha256()).update(payload)

    def blob(self, name: str, content: bytes) -> None:
        self.blob_count += 1
        self.blob_bytes += len(content)
        self._blob_hash.update(name.encode() + b"\x00" + len(content).to_bytes(8, "big"))
        self._blob_hash.update(content)

    def table_summary(self) -> dict[str, dict[str, Any]]:
        empty = hashlib.sha256().hexdigest()
        return {
            table.name: {
                "columns": [c.name for c in table.columns],
                "rows": self.tables.get(table.name, {}).get("rows", 0),
                "sha256": (
                    self._table_hashes[table.name].hexdigest()
                    if table.name in self._table_hashes
                    else empty
                ),
            }
            for table in metadata.sorted_tables
        }

    def blob_summary(self) -> dict[str, Any]:
        return {
            "count": self.blob_count,
            "bytes": self.blob_bytes,
            "sha256": self._blob_hash.hexdigest(),
        }


# --- create ------------------------------------------------------------------------------


@contextlib.contextmanager
def _snapshot(database_url: str) -> Iterator[Connection]:
    """A connection that sees one consistent state of the database for as long as it is open."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        source_path = Path(url.database or "")
        if not source_path.is_file():
            raise BackupError(f"no database at {source_path}")
        # The copy sits beside the database: the same disk and the same protection.
        with tempfile.TemporaryDirectory(prefix=".backup-", dir=source_path.parent) as scratch:
            copy_path = Path(scratch) / "snapshot.db"
            source = sqlite3.connect(source_path)
            target = sqlite3.connect(copy_path)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
            engine = create_engine(f"sqlite:///{copy_path}")
            try:
                with engine.connect() as connection:
                    yield connection
            finally:
                engine.dispose()
        return
    engine = build_engine(database_url)
    try:
        with (
            engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection,
            connection.begin(),
        ):
            yield connection
    finally:
        engine.dispose()


def _completed_erasures(connection: Connection) -> list[str]:
    return sorted(
        connection.scalars(
            select(SubjectRequest.id).where(
                SubjectRequest.type == "erasure", SubjectRequest.status == "completed"
            )
        )
    )


def _dump_tables(
    connection: Connection, writer: SealedWriter, digests: Digests, progress: Progress
) -> None:
    tables = metadata.sorted_tables
    for index, table in enumerate(tables, start=1):
        result = connection.execute(select(table).order_by(*table.primary_key.columns))
        while batch := result.fetchmany(ROWS_PER_FRAME):
            payload = json.dumps([[_encode(value) for value in row] for row in batch]).encode()
            writer.write_frame(FrameKind.ROWS, table.name, payload)
            digests.rows(table, payload, len(batch))
        rows = digests.tables.get(table.name, {}).get("rows", 0)
        progress(f"tables {index}/{len(tables)}: {table.name} ({rows} rows)")


def _blob_files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(
        path for path in root.glob("*/*") if path.is_file() and not path.name.startswith(".")
    )


def _dump_blobs(root: Path, writer: SealedWriter, digests: Digests, progress: Progress) -> None:
    files = _blob_files(root)
    for index, path in enumerate(files, start=1):
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            continue  # deleted (purged or erased) after the snapshot: its row will not need it
        writer.write_frame(FrameKind.BLOB, path.name, content)
        digests.blob(path.name, content)
        if index % 100 == 0 or index == len(files):
            progress(f"blobs {index}/{len(files)}")


def create_backup(
    settings: Settings,
    keyring: Keyring,
    *,
    output: Path | None = None,
    progress: Progress = quiet,
) -> tuple[Path, Manifest]:
    """Write an encrypted backup; returns its path and manifest.

    The file appears under its final name only once it is complete (written beside it, then
    renamed), readable by its owner only.
    """
    backup_id, created_at = new_id("bak"), utcnow()
    if output is None:
        name = f"kallglot-{created_at:%Y%m%dT%H%M%SZ}-{backup_id}{BACKUP_SUFFIX}"
        output = settings.effective_backup_dir / name
    output.parent.mkdir(parents=True, exist_ok=True)
    archive_key = os.urandom(32)
    wrapped = keyring.wrapper.wrap(archive_key, context=_wrap_context(backup_id))
    header = ArchiveHeader(backup_id, created_at, wrapped.master_key_id, wrapped.wrapped)
    digests = Digests()
    fd, temp_name = tempfile.mkstemp(prefix=".tmp-", suffix=BACKUP_SUFFIX, dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as sink:
            writer = SealedWriter(sink, archive_key, header.encode())
            with _snapshot(settings.effective_database_url) as connection:
                revision = migrate.current_revision_of(connection)
                head = migrate.head_revision(settings.effective_database_url)
                if head is None or revision != head:
                    # The dump is typed by this version's schema, so it must be the database's.
                    raise BackupError(
                        f"the database is at schema revision {revision}, this version of "
                        f"Kallglot at {head}: run `kallglot db upgrade` first",
                        code="backup_schema_mismatch",
                    )
                erasures = _completed_erasures(connection)
                _dump_tables(connection, writer, digests, progress)
            _dump_blobs(settings.effective_blob_dir, writer, digests, progress)
            manifest = Manifest(
                backup_id=backup_id,
                created_at=created_at,
                schema_revision=head,
                source_backend=make_url(settings.effective_database_url).get_backend_name(),
                tables=digests.table_summary(),
                blobs=digests.blob_summary(),
                erasures_included=erasures,
            )
            writer.write_frame(FrameKind.MANIFEST, "manifest", manifest.encode())
            writer.close()
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temp_name, output)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    ErasureLedger.from_settings(settings).mark_backup(backup_id, created_at)
    return output, manifest


# --- read and verify ---------------------------------------------------------------------


@contextlib.contextmanager
def open_archive(path: Path, keyring: Keyring) -> Iterator[tuple[ArchiveHeader, SealedReader]]:
    try:
        source: BinaryIO = path.open("rb")
    except FileNotFoundError:
        raise BackupError(f"no backup at {path}") from None
    with source:
        header, header_bytes = read_header(source)
        try:
            key = keyring.wrapper.unwrap(
                header.wrapped_key,
                master_key_id=header.master_key_id,
                context=_wrap_context(header.backup_id),
            )
        except KeyUnavailableError:
            raise BackupError(
                f"this backup was made under master key {header.master_key_id}, which is not "
                "configured (set it as KALLGLOT_MASTER_KEY or in KALLGLOT_PREVIOUS_MASTER_KEYS)",
                code="backup_key_unavailable",
            ) from None
        except DecryptionError:
            raise BackupError(
                "the backup's key does not open with the configured master key "
                "(wrong key, or the header was altered)",
                code="backup_key_unavailable",
            ) from None
        yield header, SealedReader(source, key, header_bytes)


def _table(name: str) -> Table:
    table = metadata.tables.get(name)
    if table is None:
        raise BackupError(f"the backup holds an unknown table {name!r}")
    return table


def check_manifest(manifest: Manifest, header: ArchiveHeader, digests: Digests) -> None:
    if manifest.backup_id != header.backup_id:
        raise BackupError("the manifest belongs to another backup")
    if manifest.tables != digests.table_summary():
        raise BackupError("the backup's tables do not match its manifest (counts or checksums)")
    if manifest.blobs != digests.blob_summary():
        raise BackupError("the backup's blobs do not match its manifest (count or checksum)")


def read_all(
    reader: SealedReader,
    *,
    on_rows: Callable[[Table, list[list[Any]]], None] | None = None,
    on_blob: Callable[[str, bytes], None] | None = None,
) -> tuple[Digests, Manifest]:
    digests, manifest = Digests(), None
    for kind, name, payload in reader.frames():
        if manifest is not None:
            raise BackupError("the backup has records after its manifest")
        if kind is FrameKind.ROWS:
            table = _table(name)
            rows = json.loads(payload)
            digests.rows(table, payload, len(rows))
            if on_rows is not None:
                on_rows(table, rows)
        elif kind is FrameKind.BLOB:
            digests.blob(name, payload)
            if on_blob is not None:
                on_blob(name, payload)
        else:
            manifest = Manifest.decode(payload)
    if manifest is None:
        raise BackupError("the backup has no manifest (it is incomplete)")
    return digests, manifest


def verify_backup(path: Path, keyring: Keyring) -> Manifest:
    """Read the whole archive: authentication of every part, then counts and checksums."""
    with open_archive(path, keyring) as (header, reader):
        digests, manifest = read_all(reader)
    check_manifest(manifest, header, digests)
    return manifest


# --- list and prune ----------------------------------------------------------------------


@dataclass(frozen=True)
class BackupFile:
    path: Path
    backup_id: str
    created_at: datetime
    master_key_id: str
    size: int


def list_backups(settings: Settings) -> list[BackupFile]:
    """The backups in the backup folder, oldest first (read from their headers, no key needed)."""
    found = []
    folder = settings.effective_backup_dir
    for path in sorted(folder.glob(f"*{BACKUP_SUFFIX}")) if folder.is_dir() else []:
        if path.name.startswith("."):
            continue
        try:
            with path.open("rb") as source:
                header, _ = read_header(source)
        except BackupError:
            continue
        found.append(
            BackupFile(
                path, header.backup_id, header.created_at, header.master_key_id, path.stat().st_size
            )
        )
    return sorted(found, key=lambda backup: backup.created_at)


def prune_backups(settings: Settings, *, days: int | None = None) -> list[BackupFile]:
    """Delete backups older than the retention period (default ``backup_retention_days``)."""
    cutoff = utcnow() - timedelta(days=days or settings.backup_retention_days)
    removed = []
    for backup in list_backups(settings):
        if backup.created_at < cutoff:
            backup.path.unlink(missing_ok=True)
            removed.append(backup)
    return removed
