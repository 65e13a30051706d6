"""Encrypted backups: what they hold, what they refuse, and erasures that survive a restore."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select
from typer.testing import CliRunner

from kallglot.accounts.models import Organization
from kallglot.cli.main import app as cli
from kallglot.core.errors import KallglotError
from kallglot.core.settings import Settings, load_settings
from kallglot.crypto import (
    EncryptedBlobStore,
    Keyring,
    LocalBlobBackend,
    LocalKeyWrapper,
    install_keyring,
)
from kallglot.db import migrate
from kallglot.db.engine import build_engine, session_factory
from kallglot.privacy import requests as dsr
from kallglot.privacy.backup import (
    create_backup,
    list_backups,
    prune_backups,
    verify_backup,
)
from kallglot.privacy.backup_archive import (
    BackupError,
    FrameKind,
    SealedReader,
    SealedWriter,
    read_header,
)
from kallglot.privacy.erasure_ledger import ErasureLedger
from kallglot.privacy.requests import RequestType
from kallglot.privacy.restore import restore_backup
from kallglot.realtime.models import Recording, TranscriptTurn
from kallglot.realtime.transcripts import open_turn_text
from tests.conftest import MigratedDatabase
from tests.privacy.subjects_seed import (
    ACTOR,
    everything_stored,
    raw_bytes,
    seed_two,
    verified_request,
)


def organizations(database: MigratedDatabase) -> int:
    with database.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(Organization)) or 0)


def test_erased_subject_stays_erased_after_restoring_an_older_backup(
    database: MigratedDatabase,
    backup_settings: Settings,
    keyring: Keyring,
    blob_store: EncryptedBlobStore,
    tmp_path: Path,
) -> None:
    alice, bob = seed_two(database, backup_settings, blob_store)
    # Opened (and verified) before the backup, carried out after it.
    caller = verified_request(
        database, alice.organization_id, RequestType.ERASURE, phone=alice.phone
    )
    progress: list[str] = []
    path, manifest = create_backup(backup_settings, keyring, progress=progress.append)

    archive = path.read_bytes()
    assert alice.markers[3] in everything_stored(database)  # plain in the webhook outbox ...
    for value in alice.markers + bob.markers + alice.agent_markers:
        assert value.encode() not in archive, value  # ... but nowhere readable in the backup
    assert manifest.tables["transcript_turns"]["rows"] == 2
    assert manifest.blobs["count"] >= 2 and manifest.erasures_included == []
    assert any(line.startswith("tables ") for line in progress)

    ledger = ErasureLedger.from_settings(backup_settings)
    dsr.run_erasure(database.sessions, caller, ACTOR, blob_store, ledger=ledger)
    agent = verified_request(
        database, alice.organization_id, RequestType.ERASURE, user_id=alice.agent_user_id
    )
    dsr.run_erasure(database.sessions, agent, ACTOR, blob_store, ledger=ledger)

    report = restore_backup(backup_settings, keyring, path, overwrite=True)

    assert sorted(report.erasures_reapplied) == sorted([caller, agent])
    stored = everything_stored(database)
    raw = raw_bytes(database, tmp_path / "blobs")
    for value in alice.markers + alice.agent_markers:
        assert value not in stored, value
        assert value.encode() not in raw, value
    for value in bob.agent_markers:
        assert value in stored, value
    with database.sessions.begin() as db:
        turn = db.scalars(
            select(TranscriptTurn).where(TranscriptTurn.session_id == bob.session_id)
        ).one()
        assert open_turn_text(db, turn)[0] == bob.markers[0]
        recording = db.scalars(
            select(Recording).where(Recording.session_id == bob.session_id)
        ).one()
        assert bob.markers[2].encode() in blob_store.get(db, recording.blob_id)
        request = db.get_one(dsr.SubjectRequest, caller)
        assert request.status == "completed"
        assert request.outcome == {"erased_again_after_restore_of": manifest.backup_id}

    # A backup taken after the erasures already reflects them: nothing to apply again.
    later, later_manifest = create_backup(backup_settings, keyring)
    assert set(later_manifest.erasures_included) == {caller, agent}
    assert restore_backup(backup_settings, keyring, later, overwrite=True).erasures_reapplied == []


def test_an_email_subjects_erasure_is_recorded_by_reference_and_applied_again(
    database: MigratedDatabase,
    backup_settings: Settings,
    keyring: Keyring,
    blob_store: EncryptedBlobStore,
) -> None:
    alice, bob = seed_two(database, backup_settings, blob_store)
    name, email = alice.agent_markers
    path, _ = create_backup(backup_settings, keyring)
    request = verified_request(database, alice.organization_id, RequestType.ERASURE, email=email)
    ledger = ErasureLedger.from_settings(backup_settings)
    dsr.run_erasure(database.sessions, request, ACTOR, blob_store, ledger=ledger)

    (entry,) = ledger.entries()
    # The account the address belongs to is found at erasure time and kept by id.
    assert (entry.request_id, entry.user_id) == (request, alice.agent_user_id)
    assert entry.email_hash is not None and entry.phone_hash is None
    assert email not in ledger.path.read_text() and name not in ledger.path.read_text()

    restore_backup(backup_settings, keyring, path, overwrite=True)

    stored = everything_stored(database)
    assert name not in stored and email not in stored
    assert all(value in stored for value in bob.agent_markers)


def test_restore_refuses_a_wrong_key_and_an_altered_or_cut_archive_changing_nothing(
    database: MigratedDatabase,
    backup_settings: Settings,
    keyring: Keyring,
    blob_store: EncryptedBlobStore,
    tmp_path: Path,
) -> None:
    seed_two(database, backup_settings, blob_store)
    path, _ = create_backup(backup_settings, keyring)
    before = everything_stored(database)

    stranger = Keyring(LocalKeyWrapper(secrets.token_bytes(32)))
    with pytest.raises(BackupError) as wrong_key:
        restore_backup(backup_settings, stranger, path, overwrite=True)
    assert wrong_key.value.code == "backup_key_unavailable"

    content = path.read_bytes()
    altered = tmp_path / "altered.kgbackup"
    middle = len(content) // 2
    altered.write_bytes(content[:middle] + bytes([content[middle] ^ 1]) + content[middle + 1 :])
    with pytest.raises(BackupError, match="authentication"):
        restore_backup(backup_settings, keyring, altered, overwrite=True)

    cut = tmp_path / "cut.kgbackup"
    cut.write_bytes(content[: len(content) - 100])
    with pytest.raises(BackupError, match=r"truncated|authentication"):
        restore_backup(backup_settings, keyring, cut, overwrite=True)

    stranger_file = tmp_path / "not-a-backup.kgbackup"
    stranger_file.write_bytes(b"PK\x03\x04 not a backup")
    with pytest.raises(BackupError, match="not a Kallglot backup"):
        verify_backup(stranger_file, keyring)

    ledger = ErasureLedger.from_settings(backup_settings)
    ledger.path.parent.mkdir(parents=True, exist_ok=True)
    ledger.path.write_text('{"request_id": "dsr_1", "organiz\n')  # damaged, not torn
    with pytest.raises(KallglotError) as damaged:
        restore_backup(backup_settings, keyring, path, overwrite=True)
    assert damaged.value.code == "erasure_ledger_damaged"
    ledger.path.unlink()

    with pytest.raises(BackupError) as occupied:
        restore_backup(backup_settings, keyring, path)  # no overwrite: the target has data
    assert occupied.value.code == "backup_target_not_empty"
    assert everything_stored(database) == before


@pytest.fixture
def fresh_sqlite(tmp_path: Path, backup_settings: Settings) -> Settings:
    """Settings of another, empty installation (no tables yet) on SQLite."""
    url = f"sqlite:///{tmp_path / 'other' / 'kallglot.db'}"
    return backup_settings.model_copy(
        update={"database_url": url, "blob_dir": tmp_path / "other" / "blobs"}
    )


@pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)
def test_restore_into_an_empty_installation_and_refuse_another_schema_revision(
    database: MigratedDatabase,
    backup_settings: Settings,
    keyring: Keyring,
    blob_store: EncryptedBlobStore,
    fresh_sqlite: Settings,
) -> None:
    alice, _ = seed_two(database, backup_settings, blob_store)
    path, manifest = create_backup(backup_settings, keyring)

    report = restore_backup(fresh_sqlite, keyring, path)

    assert report.rows == sum(table["rows"] for table in manifest.tables.values())
    engine = build_engine(fresh_sqlite.effective_database_url)
    try:
        restored = session_factory(engine)
        other_blobs = EncryptedBlobStore(LocalBlobBackend(fresh_sqlite.effective_blob_dir), keyring)
        with restored.begin() as db:
            turn = db.scalars(
                select(TranscriptTurn).where(TranscriptTurn.session_id == alice.session_id)
            ).one()
            assert open_turn_text(db, turn)[0] == alice.markers[0]
            recording = db.scalars(
                select(Recording).where(Recording.session_id == alice.session_id)
            ).one()
            assert alice.markers[2].encode() in other_blobs.get(db, recording.blob_id)
    finally:
        engine.dispose()

    # The target one migration behind: refused, and left as it was.
    migrate.downgrade(fresh_sqlite.effective_database_url, "0006")
    with pytest.raises(BackupError) as mismatch:
        restore_backup(fresh_sqlite, keyring, path, overwrite=True)
    assert mismatch.value.code == "backup_schema_mismatch"
    assert "0006" in mismatch.value.message
    # A database behind this version's schema is not backed up (its rows would be mistyped).
    with pytest.raises(BackupError) as behind:
        create_backup(fresh_sqlite, keyring)
    assert behind.value.code == "backup_schema_mismatch"
    # A backup made by another version (another head revision) does not restore here.
    other_version = with_manifest(path, keyring, schema_revision="0099")
    with pytest.raises(BackupError, match="backup is at 0099"):
        restore_backup(backup_settings, keyring, other_version, overwrite=True)


Frames = list[tuple[FrameKind, str, bytes]]


def resealed(path: Path, keyring: Keyring, change: Callable[[Frames], Frames]) -> Path:
    """A copy of the backup whose frames ``change`` rewrote, sealed again with its own key
    (what another Kallglot version, or a bug, could have written: authentic, yet unusable)."""
    copy = path.with_name("changed.kgbackup")
    with path.open("rb") as source, copy.open("wb") as sink:
        header, header_bytes = read_header(source)
        key = keyring.wrapper.unwrap(
            header.wrapped_key,
            master_key_id=header.master_key_id,
            context=b"kallglot backup key v1\x00" + header.backup_id.encode(),
        )
        writer = SealedWriter(sink, key, header_bytes)
        for kind, name, payload in change(list(SealedReader(source, key, header_bytes).frames())):
            writer.write_frame(kind, name, payload)
        writer.close()
    return copy


def with_manifest(path: Path, keyring: Keyring, **changes: object) -> Path:
    def change(frames: Frames) -> Frames:
        *records, (kind, name, manifest) = frames
        return [*records, (kind, name, json.dumps(json.loads(manifest) | changes).encode())]

    return resealed(path, keyring, change)


def with_duplicated_rows(path: Path, keyring: Keyring, table: str) -> Path:
    """The table's rows twice (primary keys collide), the manifest's checksums made to match."""

    def change(frames: Frames) -> Frames:
        *records, (kind, name, raw_manifest) = frames
        rows = [frame for frame in records if frame[0] is FrameKind.ROWS and frame[1] == table]
        manifest = json.loads(raw_manifest)
        entry = manifest["tables"][table]
        entry["rows"] *= 2
        entry["sha256"] = hashlib.sha256(b"".join(frame[2] for frame in rows * 2)).hexdigest()
        return [*records, *rows, (kind, name, json.dumps(manifest).encode())]

    return resealed(path, keyring, change)


def test_a_restore_that_the_database_refuses_midway_changes_nothing(
    database: MigratedDatabase,
    backup_settings: Settings,
    keyring: Keyring,
    blob_store: EncryptedBlobStore,
    tmp_path: Path,
) -> None:
    alice, _ = seed_two(database, backup_settings, blob_store)
    path, _ = create_backup(backup_settings, keyring)
    broken = with_duplicated_rows(path, keyring, "transcript_turns")
    assert verify_backup(broken, keyring).tables["transcript_turns"]["rows"] == 4
    with database.sessions.begin() as db:  # a change after the backup, which must survive
        db.get_one(Organization, alice.organization_id).name = "Renamed after the backup"
    before = everything_stored(database)
    blobs_before = sorted(p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file())

    with pytest.raises(BackupError, match="refused the backup's rows"):
        restore_backup(backup_settings, keyring, broken, overwrite=True)

    assert everything_stored(database) == before
    assert sorted(p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()) == blobs_before
    assert not (tmp_path / "blobs.restoring").exists()


def test_backups_are_listed_and_pruned_after_the_retention_period(
    database: MigratedDatabase, backup_settings: Settings, keyring: Keyring
) -> None:
    now = datetime.now(UTC)
    with time_machine.travel(now - timedelta(days=40), tick=False):
        old, _ = create_backup(backup_settings, keyring)
    with time_machine.travel(now - timedelta(days=30), tick=False):
        recent, _ = create_backup(backup_settings, keyring)
    assert [backup.path for backup in list_backups(backup_settings)] == [old, recent]

    removed = prune_backups(backup_settings)  # 35 days by default

    assert [backup.path for backup in removed] == [old]
    assert not old.exists() and recent.exists()
    assert [backup.path for backup in prune_backups(backup_settings, days=7)] == [recent]


def test_backup_commands_create_verify_list_restore_and_prune(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    var_dir = tmp_path / "cli-var"
    monkeypatch.setenv("KALLGLOT_VAR_DIR", str(var_dir))
    monkeypatch.delenv("KALLGLOT_DATABASE_URL", raising=False)
    monkeypatch.delenv("KALLGLOT_BLOB_DIR", raising=False)
    monkeypatch.setenv("KALLGLOT_MASTER_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
    runner = CliRunner()
    try:
        assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
        settings = load_settings()
        engine = build_engine(settings.effective_database_url)
        with session_factory(engine).begin() as db:
            db.add(Organization(id="org_backupcli", name="CLI Org", slug="backup-cli"))
        engine.dispose()

        created = runner.invoke(cli, ["backup", "create", "--output", str(tmp_path / "b.kgbackup")])
        assert created.exit_code == 0, created.output
        assert "tables " in created.stderr and "written to" in created.stdout
        verified = runner.invoke(cli, ["backup", "verify", str(tmp_path / "b.kgbackup")])
        assert verified.exit_code == 0 and "is intact" in verified.stdout

        refused = runner.invoke(cli, ["backup", "restore", str(tmp_path / "b.kgbackup")])
        assert refused.exit_code == 1 and "backup_target_not_empty" in refused.stderr
        restored = runner.invoke(cli, ["backup", "restore", str(tmp_path / "b.kgbackup"), "--yes"])
        assert restored.exit_code == 0, restored.output
        assert "0 erasures applied again" in restored.stdout
        missing = runner.invoke(cli, ["backup", "restore", str(tmp_path / "none.kgbackup")])
        assert missing.exit_code == 1 and "no backup at" in missing.stderr

        assert runner.invoke(cli, ["backup", "create"]).exit_code == 0
        listed = runner.invoke(cli, ["backup", "list"])
        assert listed.exit_code == 0 and str(var_dir / "backups") in listed.stdout
        pruned = runner.invoke(cli, ["backup", "prune"])
        assert pruned.exit_code == 0 and "0 backups deleted" in pruned.stdout
        assert runner.invoke(cli, ["backup", "prune", "--days", "0"]).exit_code == 2  # min 1
    finally:
        install_keyring(None)
