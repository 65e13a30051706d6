"""A restore needs an erasure ledger at least as new as the archive (issue 20, finding 6)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from kallglot.audit.models import AuditEvent
from kallglot.core.settings import Settings
from kallglot.crypto import EncryptedBlobStore, Keyring
from kallglot.privacy.backup import create_backup
from kallglot.privacy.backup_archive import BackupError
from kallglot.privacy.erasure_ledger import ErasureLedger
from kallglot.privacy.restore import restore_backup
from tests.conftest import MigratedDatabase
from tests.privacy.subjects_seed import everything_stored, seed_two


def test_a_restore_without_a_ledger_as_new_as_the_archive_is_refused_unless_audited(
    database: MigratedDatabase,
    backup_settings: Settings,
    keyring: Keyring,
    blob_store: EncryptedBlobStore,
    tmp_path: Path,
) -> None:
    seed_two(database, backup_settings, blob_store)
    ledger = ErasureLedger.from_settings(backup_settings)
    first, _ = create_backup(backup_settings, keyring)
    older_ledger = tmp_path / "ledger-of-the-first-backup"
    shutil.copy(ledger.path, older_ledger)
    second, manifest = create_backup(backup_settings, keyring)
    before = everything_stored(database)

    # The ledger of an older backup, and no ledger at all: refused, nothing changed.
    shutil.copy(older_ledger, ledger.path)
    with pytest.raises(BackupError) as stale:
        restore_backup(backup_settings, keyring, second, overwrite=True)
    assert stale.value.code == "erasure_ledger_stale"
    ledger.path.unlink()
    with pytest.raises(BackupError) as missing:
        restore_backup(backup_settings, keyring, second, overwrite=True)
    assert missing.value.code == "erasure_ledger_stale"
    assert everything_stored(database) == before

    # The operator insists: restored, and the audit log says how.
    restore_backup(backup_settings, keyring, second, overwrite=True, without_erasure_ledger=True)
    with database.sessions() as db:
        audited = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "backup.restored_without_erasure_ledger")
        ).all()
    assert [event.target_id for event in audited] == [manifest.backup_id]

    # With the older ledger back in place, the older archive restores as usual.
    shutil.copy(older_ledger, ledger.path)
    restore_backup(backup_settings, keyring, first, overwrite=True)
    with database.sessions() as db:
        assert not db.scalars(
            select(AuditEvent).where(AuditEvent.action == "backup.restored_without_erasure_ledger")
        ).all()
