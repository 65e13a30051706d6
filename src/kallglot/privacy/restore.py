"""Restoring a backup: checked first, loaded in one transaction, erasures applied again.

See :mod:`kallglot.privacy.backup` for the archive and the guarantees.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, delete, inspect, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from kallglot import audit
from kallglot.accounts.models import Organization
from kallglot.audit import SystemActor
from kallglot.core.clock import utcnow
from kallglot.core.settings import Settings
from kallglot.crypto import EncryptedBlobStore, LocalBlobBackend
from kallglot.crypto.keyring import Keyring
from kallglot.db import migrate
from kallglot.db.engine import build_engine, session_factory
from kallglot.db.registry import metadata
from kallglot.privacy.backup import (
    Manifest,
    Progress,
    check_manifest,
    column_decoder,
    open_archive,
    quiet,
    read_all,
    verify_backup,
)
from kallglot.privacy.backup_archive import BackupError
from kallglot.privacy.erasure_ledger import ErasureEntry, ErasureLedger
from kallglot.privacy.models import SubjectRequest
from kallglot.privacy.requests import RequestStatus, erase_subject


@dataclass(frozen=True)
class RestoreReport:
    manifest: Manifest
    rows: int
    blobs: int
    erasures_reapplied: list[str]


def _has_rows(connection: Connection) -> bool:
    return any(
        connection.execute(select(table).limit(1)).first() is not None
        for table in metadata.sorted_tables
    )


def _prepare_target(database_url: str, manifest: Manifest, *, overwrite: bool) -> None:
    """Migrate an empty database to the backup's revision; refuse any other mismatch."""
    head = migrate.head_revision(database_url)
    if manifest.schema_revision != head:
        raise BackupError(
            f"schema revision mismatch: the backup is at {manifest.schema_revision}, this "
            f"version of Kallglot at {head}; restore it with the matching version",
            code="backup_schema_mismatch",
        )
    engine = build_engine(database_url)
    try:
        with engine.connect() as connection:
            current = migrate.current_revision_of(connection)
            has_tables = bool(inspect(connection).get_table_names())
            if current is None and has_tables:
                raise BackupError("the target database holds tables that are not Kallglot's")
            if current is not None and current != manifest.schema_revision:
                raise BackupError(
                    f"schema revision mismatch: the backup is at {manifest.schema_revision}, "
                    f"the target database at {current}",
                    code="backup_schema_mismatch",
                )
            if current is not None and not overwrite and _has_rows(connection):
                raise BackupError(
                    "the target database is not empty; pass --yes to replace its contents",
                    code="backup_target_not_empty",
                )
    finally:
        engine.dispose()
    if current is None:
        migrate.upgrade(database_url, manifest.schema_revision)


def _record_live_erasures(session: Session, ledger: ErasureLedger) -> int:
    """Before the live database is overwritten: its completed erasures go into the ledger
    (those made on a node whose ledger file is elsewhere, or before the ledger existed)."""
    known = ledger.request_ids()
    added = 0
    for request in session.scalars(
        select(SubjectRequest).where(
            SubjectRequest.type == "erasure", SubjectRequest.status == "completed"
        )
    ):
        if request.id in known or request.completed_at is None:
            continue
        ledger.append(
            ErasureEntry(
                request_id=request.id,
                organization_id=request.organization_id,
                erased_at=request.completed_at,
                user_id=request.subject_user_id,
                email_hash=request.subject_hash if request.subject_kind == "email" else None,
                phone_hash=request.subject_hash if request.subject_kind == "phone" else None,
            )
        )
        added += 1
    return added


def _reapply_erasures(
    session: Session, manifest: Manifest, ledger: ErasureLedger, blobs: EncryptedBlobStore
) -> list[str]:
    """Erase again every subject whose erasure the backup does not reflect."""
    included = set(manifest.erasures_included)
    done = []
    for entry in ledger.entries():
        if entry.request_id in included:
            continue
        if session.get(Organization, entry.organization_id) is None:
            continue  # the organization came after the backup: nothing of it was restored
        erase_subject(session, entry.subject(), blobs)
        request = session.get(SubjectRequest, entry.request_id)
        if request is None:
            # Opened after the backup: recreated from the ledger, so that the next backup
            # records this erasure as done and a later restore does not erase again data
            # that arrived after it (a new call from the same number).
            request = SubjectRequest(
                id=entry.request_id,
                organization_id=entry.organization_id,
                type="erasure",
                subject_kind=entry.kind,
                subject_user_id=entry.user_id,
                subject_hash={"email": entry.email_hash, "phone": entry.phone_hash}.get(entry.kind),
                received_at=entry.erased_at,
                due_at=entry.erased_at,
                verified_at=entry.erased_at,
            )
            session.add(request)
        if request.status != RequestStatus.COMPLETED:
            request.status = RequestStatus.COMPLETED.value
            request.completed_at = utcnow()
            request.subject_value = None
            request.progress = 100
            request.outcome = {"erased_again_after_restore_of": manifest.backup_id}
        done.append(entry.request_id)
    session.flush()
    return done


def _swap_folder(staging: Path, target: Path) -> None:
    """Put ``staging`` where ``target`` is, then remove the old one."""
    old = target.with_name(f"{target.name}.replaced")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


class _Loader:
    """Inserts the archive's rows through one connection and writes its blobs to staging."""

    def __init__(self, connection: Connection, staging: LocalBlobBackend, progress: Progress):
        self.connection, self.staging, self.progress = connection, staging, progress
        self.rows = self.blobs = 0

    def replace_all(self, path: Path, keyring: Keyring) -> None:
        for table in reversed(metadata.sorted_tables):
            self.connection.execute(delete(table))
        self.progress("existing rows removed (not committed yet)")
        with open_archive(path, keyring) as (header, reader):
            digests, manifest = read_all(reader, on_rows=self.insert, on_blob=self.write_blob)
        check_manifest(manifest, header, digests)
        self.progress(f"rows restored: {self.rows}; blobs: {self.blobs}")

    def insert(self, table: Table, rows: list[list[Any]]) -> None:
        decoders = [(column.key, column_decoder(column.type)) for column in table.columns]
        if any(len(row) != len(decoders) for row in rows):
            raise BackupError(f"the backup's rows of {table.name} have the wrong shape")
        values = [
            {key: decode(value) for (key, decode), value in zip(decoders, row, strict=True)}
            for row in rows
        ]
        self.connection.execute(table.insert(), values)
        self.rows += len(rows)

    def write_blob(self, name: str, content: bytes) -> None:
        self.staging.write(name, content)
        self.blobs += 1
        if self.blobs % 100 == 0:
            self.progress(f"blobs restored: {self.blobs}")


def _check_ledger(ledger: ErasureLedger, manifest: Manifest, *, without_ledger: bool) -> bool:
    """True when the ledger is at least as new as the archive (it holds the archive's backup
    checkpoint or a later one). Otherwise erasures made after the backup may be missing from
    it, and the restore would serve those subjects again: refused unless the operator said
    ``without_ledger`` (then False, and the restore is audited as such)."""
    newest = ledger.newest_checkpoint()
    if newest is not None and newest >= manifest.created_at:
        return True
    if without_ledger:
        return False
    raise BackupError(
        f"the erasure ledger {ledger.path} is missing or older than the backup "
        f"({manifest.created_at:%Y-%m-%d %H:%M:%S} UTC): restoring would bring back subjects "
        "erased since. Put the ledger in place (KALLGLOT_ERASURE_LEDGER_PATH), or pass "
        "--without-erasure-ledger to restore anyway (audited)",
        code="erasure_ledger_stale",
    )


def restore_backup(
    settings: Settings,
    keyring: Keyring,
    path: Path,
    *,
    overwrite: bool = False,
    without_erasure_ledger: bool = False,
    progress: Progress = quiet,
) -> RestoreReport:
    """Replace the database and the blob store with the backup's, erasures re-applied.

    The server must be stopped. Refuses (changing nothing) a wrong key, an altered or cut
    archive, a schema revision mismatch, a non-empty target without ``overwrite``, or an
    erasure ledger older than the archive without ``without_erasure_ledger``; rows the
    database rejects roll the whole restore back.
    """
    progress("checking the backup")
    manifest = verify_backup(path, keyring)
    database_url = settings.effective_database_url
    _prepare_target(database_url, manifest, overwrite=overwrite)
    ledger = ErasureLedger.from_settings(settings)
    ledger_current = _check_ledger(ledger, manifest, without_ledger=without_erasure_ledger)
    blob_root = settings.effective_blob_dir
    staging = blob_root.with_name(f"{blob_root.name}.restoring")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    engine = build_engine(database_url)
    sessions = session_factory(engine)
    try:
        with sessions() as session, session.begin():
            _record_live_erasures(session, ledger)
        with sessions() as session, session.begin():
            loader = _Loader(session.connection(), LocalBlobBackend(staging), progress)
            try:
                loader.replace_all(path, keyring)
            except (IntegrityError, DataError) as exc:
                raise BackupError(
                    f"the database refused the backup's rows, nothing was restored: {exc.orig}"
                ) from None
            reapplied = _reapply_erasures(
                session, manifest, ledger, EncryptedBlobStore(loader.staging, keyring)
            )
            progress(f"erasures re-applied: {len(reapplied)}")
            if not ledger_current:
                audit.record(
                    session,
                    SystemActor(),
                    "backup.restored_without_erasure_ledger",
                    target=("backup", manifest.backup_id),
                    changes={
                        "backup_created_at": manifest.created_at.isoformat(),
                        "ledger_erasures": len(ledger.entries()),
                    },
                )
                progress("restored without a current erasure ledger (recorded in the audit log)")
        _swap_folder(staging, blob_root)
        if engine.dialect.name == "sqlite":
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        engine.dispose()
    return RestoreReport(manifest, loader.rows, loader.blobs, reapplied)
