"""Data keys: one per organization or subject, crypto-shredding, and master key rotation."""

from __future__ import annotations

import base64
import secrets

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from kallglot.cli.main import app
from kallglot.core.errors import ValidationFailedError
from kallglot.crypto import (
    KeyDestroyedError,
    Keyring,
    KeyUnavailableError,
    LocalKeyWrapper,
    decrypt_text,
    encrypt_field,
)
from kallglot.crypto.models import DataKey
from tests.conftest import MigratedDatabase
from tests.crypto.scratch import add_note, make_org, notes
from tests.support.waiting import wait_until


def body_of(database: MigratedDatabase, row_id: str, keyring: Keyring | None = None) -> str:
    with database.sessions.begin() as session:
        sealed = session.execute(select(notes.c.body).where(notes.c.id == row_id)).scalar_one()
        return decrypt_text(session, "scratch_notes", row_id, "body", sealed, keyring=keyring)


def test_one_key_per_organization_and_per_subject(
    scratch: MigratedDatabase, keyring: Keyring
) -> None:
    with scratch.sessions.begin() as session:
        org_key = keyring.data_key(session, "org_a")
        assert keyring.data_key(session, "org_a").id == org_key.id
        assert keyring.data_key(session, "org_b").id != org_key.id
        subject_key = keyring.data_key(session, "org_a", "usr_1")
        assert subject_key.id != org_key.id
        assert session.scalar(select(func.count()).select_from(DataKey)) == 3
        stored = session.get(DataKey, org_key.id)
        assert stored is not None and stored.wrapped_key is not None
        assert org_key.key not in stored.wrapped_key
        with pytest.raises(ValidationFailedError):
            keyring.data_key(session, "org_a", "anna@example.com")
        with pytest.raises(ValidationFailedError):
            keyring.data_key(session, "org_a", "+4930123456")


def test_destroyed_org_key_erases_its_data_while_another_org_still_decrypts(
    scratch: MigratedDatabase, keyring: Keyring
) -> None:
    erased_org, kept_org = make_org(scratch), make_org(scratch)
    erased = add_note(scratch, erased_org, "to be forgotten")
    kept = add_note(scratch, kept_org, "still here")
    assert body_of(scratch, erased) == "to be forgotten"  # the key is now cached
    with scratch.sessions.begin() as session:
        assert keyring.destroy_all(session, erased_org) == 1
    with pytest.raises(KeyDestroyedError, match="erased") as caught:
        body_of(scratch, erased)
    assert caught.value.status_code == 410
    assert body_of(scratch, kept) == "still here"


def test_destroy_is_seen_by_another_process_that_cached_the_key(
    scratch: MigratedDatabase, keyring: Keyring
) -> None:
    master = secrets.token_bytes(32)
    here, elsewhere = Keyring(LocalKeyWrapper(master)), Keyring(LocalKeyWrapper(master))
    org = make_org(scratch)
    with scratch.sessions.begin() as session:
        sealed = encrypt_field(session, org, "t", "row_1", "c", "cached", keyring=here)
        assert decrypt_text(session, "t", "row_1", "c", sealed, keyring=elsewhere) == "cached"
    with scratch.sessions.begin() as session:
        here.destroy(session, org)
    with scratch.sessions.begin() as session, pytest.raises(KeyDestroyedError):
        decrypt_text(session, "t", "row_1", "c", sealed, keyring=elsewhere)


def test_subject_key_is_erased_alone_and_a_new_one_follows(
    scratch: MigratedDatabase, keyring: Keyring
) -> None:
    org = make_org(scratch)
    subject_note = add_note(scratch, org, "subject's words", subject_ref="usr_anna")
    org_note = add_note(scratch, org, "organization's words")
    with scratch.sessions.begin() as session:
        assert keyring.destroy(session, org, "usr_anna") == 1
        assert keyring.destroy(session, org, "usr_anna") == 0
    with pytest.raises(KeyDestroyedError):
        body_of(scratch, subject_note)
    assert body_of(scratch, org_note) == "organization's words"
    fresh = add_note(scratch, org, "after erasure", subject_ref="usr_anna")
    assert body_of(scratch, fresh) == "after erasure"


def test_rotation_rewraps_keys_and_the_old_master_key_can_be_retired(
    scratch: MigratedDatabase,
) -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    before = Keyring(LocalKeyWrapper(old))
    org = make_org(scratch)
    with scratch.sessions.begin() as session:
        sealed = encrypt_field(session, org, "t", "row_1", "c", "survives rotation", keyring=before)
        encrypt_field(session, org, "t", "row_2", "c", "x", "usr_1", keyring=before)
    # Without the old key the data keys cannot be unwrapped: it must stay until rotation.
    with scratch.sessions.begin() as session, pytest.raises(KeyUnavailableError):
        decrypt_text(session, "t", "row_1", "c", sealed, keyring=Keyring(LocalKeyWrapper(new)))
    during = Keyring(LocalKeyWrapper(new, [old]))
    with scratch.sessions.begin() as session:
        assert during.rotate(session, batch_size=1) == 1
    with scratch.sessions.begin() as session:
        assert during.rotate(session, batch_size=1) == 1
        assert during.rotate(session) == 0
        assert during.master_key_usage(session) == {during.wrapper.current_key_id: 2}
    after = Keyring(LocalKeyWrapper(new))
    with scratch.sessions.begin() as session:
        assert (
            decrypt_text(session, "t", "row_1", "c", sealed, keyring=after) == "survives rotation"
        )
        with pytest.raises(KeyUnavailableError):
            decrypt_text(session, "t", "row_1", "c", sealed, keyring=before)


def test_keys_rotate_command(
    scratch: MigratedDatabase, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    org = make_org(scratch)
    with scratch.sessions.begin() as session:
        sealed = encrypt_field(
            session, org, "t", "row_1", "c", "via the CLI", keyring=Keyring(LocalKeyWrapper(old))
        )
    monkeypatch.setenv("KALLGLOT_DATABASE_URL", scratch.url)
    monkeypatch.setenv("KALLGLOT_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("KALLGLOT_MASTER_KEY", base64.b64encode(new).decode())
    monkeypatch.setenv("KALLGLOT_PREVIOUS_MASTER_KEYS", base64.b64encode(old).decode())
    result = CliRunner().invoke(app, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "re-wrapped 1 data keys" in result.output
    again = CliRunner().invoke(app, ["keys", "rotate"])
    assert "re-wrapped 0 data keys" in again.output
    with scratch.sessions.begin() as session:
        plain = decrypt_text(
            session, "t", "row_1", "c", sealed, keyring=Keyring(LocalKeyWrapper(new))
        )
    assert plain == "via the CLI"


def test_a_wrapped_key_copied_to_another_key_row_does_not_unwrap(
    scratch: MigratedDatabase, keyring: Keyring
) -> None:
    from kallglot.crypto import DecryptionError

    with scratch.sessions.begin() as session:
        mine = keyring.data_key(session, "org_a")
        theirs = keyring.data_key(session, "org_b")
    with scratch.sessions.begin() as session:
        source, target = session.get(DataKey, mine.id), session.get(DataKey, theirs.id)
        assert source is not None and target is not None
        target.wrapped_key = source.wrapped_key
    keyring.clear_cache()
    with scratch.sessions.begin() as session, pytest.raises(DecryptionError):
        keyring.key_by_id(session, theirs.id)


def test_concurrent_first_use_creates_one_key_on_postgresql(
    scratch: MigratedDatabase, keyring: Keyring
) -> None:
    import threading

    if scratch.backend != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs two concurrent transactions")
    results: list[str] = []
    with scratch.sessions.begin() as first:
        results.append(keyring.data_key(first, "org_race").id)
        holder = first.execute(text("SELECT pg_backend_pid()")).scalar_one()

        def second_node() -> None:
            with scratch.sessions.begin() as second:
                results.append(keyring.data_key(second, "org_race").id)

        worker = threading.Thread(target=second_node)
        worker.start()
        # The second transaction is seen waiting on the first's lock (the unique index)
        # before the first commits.
        wait_until(lambda: _blocked_by(scratch, holder), "the second node never blocked")
        assert len(results) == 1
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert len(results) == 2 and results[0] == results[1]


def _blocked_by(database: MigratedDatabase, holder: int) -> bool:
    with database.engine.connect() as connection:
        blocked = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE :holder = ANY(pg_blocking_pids(pid))"
            ),
            {"holder": holder},
        ).scalar_one()
    return bool(blocked)
