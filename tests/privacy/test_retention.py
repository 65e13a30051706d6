"""Retention: defaults, overrides within bounds, legal holds, batches, idempotence, the clock."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

from kallglot.cli.main import app
from kallglot.core.errors import NotFoundError, ValidationFailedError
from kallglot.crypto import EncryptedBlobStore, Keyring, decrypt_text
from kallglot.privacy.models import PurgeRun
from kallglot.privacy.retention import (
    PurgeBatch,
    Purger,
    PurgeRegistry,
    active_legal_holds,
    clear_retention_override,
    place_legal_hold,
    release_legal_hold,
    retention_policy,
    run_purge,
    set_retention_override,
)
from kallglot.privacy.scheduler import purge_periodically
from tests.conftest import MigratedDatabase
from tests.crypto.scratch import add_note, make_org, notes

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def notes_purger(store: EncryptedBlobStore | None = None) -> Purger:
    """A domain's purger: expired notes of one organization, held calls left alone."""

    def purge(batch: PurgeBatch) -> int:
        held = batch.held_refs("call")
        query = (
            select(notes.c.id, notes.c.blob_id)
            .where(notes.c.organization_id == batch.organization_id)
            .where(notes.c.created_at < batch.cutoff)
            .order_by(notes.c.id)
            .limit(batch.limit)
        )
        if held:
            query = query.where((notes.c.call_ref.is_(None)) | (notes.c.call_ref.not_in(held)))
        rows = batch.session.execute(query).all()
        batch.session.execute(delete(notes).where(notes.c.id.in_([row.id for row in rows])))
        if store is not None:
            for row in rows:
                if row.blob_id:
                    store.delete(row.blob_id)
        return len(rows)

    return purge


@pytest.fixture
def registry() -> PurgeRegistry:
    registry = PurgeRegistry.with_builtin_classes()
    registry.register_purger("transcripts", "scratch_notes", notes_purger())
    return registry


def remaining(database: MigratedDatabase) -> int:
    with database.sessions.begin() as session:
        return int(session.scalar(select(func.count()).select_from(notes)) or 0)


def purge_at(database: MigratedDatabase, registry: PurgeRegistry, when: datetime, **kw: int) -> int:
    with time_machine.travel(when, tick=False):
        return run_purge(database.sessions, registry=registry, **kw).total


def test_transcripts_are_kept_30_days_then_purged_once(
    scratch: MigratedDatabase, keyring: Keyring, registry: PurgeRegistry
) -> None:
    org = make_org(scratch)
    with time_machine.travel(T0, tick=False):
        add_note(scratch, org, "said on day 0")
    assert purge_at(scratch, registry, T0 + timedelta(days=29, hours=23)) == 0
    assert remaining(scratch) == 1
    assert purge_at(scratch, registry, T0 + timedelta(days=30, seconds=1)) == 1
    assert remaining(scratch) == 0
    assert purge_at(scratch, registry, T0 + timedelta(days=31)) == 0


def test_an_override_within_bounds_shortens_or_lengthens_retention(
    scratch: MigratedDatabase, keyring: Keyring, registry: PurgeRegistry
) -> None:
    short_org, long_org = make_org(scratch), make_org(scratch)
    with scratch.sessions.begin() as session:
        set_retention_override(session, short_org, "transcripts", 7, registry=registry)
        set_retention_override(session, long_org, "transcripts", 90, registry=registry)
    with time_machine.travel(T0, tick=False):
        add_note(scratch, short_org, "short")
        add_note(scratch, long_org, "long")
    assert purge_at(scratch, registry, T0 + timedelta(days=8)) == 1
    assert purge_at(scratch, registry, T0 + timedelta(days=60)) == 0
    assert purge_at(scratch, registry, T0 + timedelta(days=91)) == 1
    with scratch.sessions.begin() as session:
        policy = {p.retention_class.name: p for p in retention_policy(session, long_org, registry)}
        assert policy["transcripts"].days == 90 and policy["transcripts"].overridden
        assert policy["recordings"].days == 30 and not policy["recordings"].overridden
        assert policy["agent_activity"].days == 90
        assert clear_retention_override(session, long_org, "transcripts") is True
        assert clear_retention_override(session, long_org, "transcripts") is False


def test_overrides_outside_bounds_or_on_fixed_classes_are_refused(
    scratch: MigratedDatabase, registry: PurgeRegistry
) -> None:
    org = make_org(scratch)
    with scratch.sessions.begin() as session:
        with pytest.raises(ValidationFailedError, match="between"):
            set_retention_override(session, org, "transcripts", 0, registry=registry)
        with pytest.raises(ValidationFailedError, match="between"):
            set_retention_override(session, org, "agent_activity", 366, registry=registry)
        with pytest.raises(ValidationFailedError, match="cannot be overridden"):
            set_retention_override(session, org, "kyc", 10, registry=registry)
        with pytest.raises(NotFoundError):
            set_retention_override(session, org, "horoscopes", 10, registry=registry)


def test_an_organization_hold_suspends_purging_until_released(
    scratch: MigratedDatabase, keyring: Keyring, registry: PurgeRegistry
) -> None:
    org, other = make_org(scratch), make_org(scratch)
    with time_machine.travel(T0, tick=False):
        add_note(scratch, org, "evidence")
        add_note(scratch, other, "ordinary")
    with scratch.sessions.begin() as session:
        hold = place_legal_hold(session, org, "court order 2026/17")
    with time_machine.travel(T0 + timedelta(days=40), tick=False):
        report = run_purge(scratch.sessions, registry=registry)
    assert report.total == 1 and report.held_organizations == [org]
    with scratch.sessions.begin() as session:
        release_legal_hold(session, org, hold.id, actor_id="usr_lawyer")
        assert active_legal_holds(session, org) == []
    assert purge_at(scratch, registry, T0 + timedelta(days=41)) == 1
    assert remaining(scratch) == 0


def test_an_object_hold_keeps_that_call_and_purges_the_rest(
    scratch: MigratedDatabase, keyring: Keyring, registry: PurgeRegistry
) -> None:
    org = make_org(scratch)
    with time_machine.travel(T0, tick=False):
        held = add_note(scratch, org, "held call", call_ref="call_held")
        add_note(scratch, org, "other call", call_ref="call_free")
        add_note(scratch, org, "no call")
    with scratch.sessions.begin() as session:
        place_legal_hold(session, org, "dispute", object_type="call", object_ref="call_held")
        with pytest.raises(ValidationFailedError):
            place_legal_hold(session, org, "half", object_type="call")
    assert purge_at(scratch, registry, T0 + timedelta(days=31)) == 2
    with scratch.sessions.begin() as session:
        body = session.execute(select(notes.c.body)).scalar_one()
        assert decrypt_text(session, "scratch_notes", held, "body", body) == "held call"


def test_purges_in_batches_and_records_the_run(
    scratch: MigratedDatabase, keyring: Keyring, registry: PurgeRegistry
) -> None:
    org = make_org(scratch)
    with time_machine.travel(T0, tick=False):
        for n in range(5):
            add_note(scratch, org, f"note {n}")
    with time_machine.travel(T0 + timedelta(days=31), tick=False):
        report = run_purge(scratch.sessions, registry=registry, batch_size=2)
    assert report.removed == {"transcripts/scratch_notes": 5}
    with scratch.sessions.begin() as session:
        run = session.get(PurgeRun, report.run_id)
        assert run is not None and run.removed == {"transcripts/scratch_notes": 5}


def test_purging_removes_the_blobs_too(
    scratch: MigratedDatabase, keyring: Keyring, blob_store: EncryptedBlobStore
) -> None:
    registry = PurgeRegistry.with_builtin_classes()
    registry.register_purger("recordings", "scratch_notes", notes_purger(blob_store))
    org = make_org(scratch)
    with time_machine.travel(T0, tick=False):
        add_note(scratch, org, "recorded", blob=(blob_store, b"audio"))
    assert purge_at(scratch, registry, T0 + timedelta(days=31)) == 1
    assert [p for p in blob_store.backend.root.rglob("*") if p.is_file()] == []  # type: ignore[attr-defined]


async def test_the_server_runs_the_purge_periodically(
    scratch: MigratedDatabase, keyring: Keyring, registry: PurgeRegistry
) -> None:
    org = make_org(scratch)
    add_note(scratch, org, "old", created_at=datetime(2020, 1, 1, tzinfo=UTC))
    task = asyncio.create_task(purge_periodically(scratch.sessions, 0.01, registry))
    try:
        for _ in range(500):
            if remaining(scratch) == 0:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert remaining(scratch) == 0


def test_retention_run_command_reports_json(
    scratch: MigratedDatabase, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    make_org(scratch)
    monkeypatch.setenv("KALLGLOT_DATABASE_URL", scratch.url)
    monkeypatch.setenv("KALLGLOT_VAR_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["retention", "run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["total"] == 0 and report["held_organizations"] == 0
    listing = CliRunner().invoke(app, ["retention", "classes"])
    assert "transcripts: 30 days (override 1-730 days)" in listing.output
    assert "kyc: expiry_date" in listing.output


def test_only_one_node_purges_at_a_time_on_postgresql(
    scratch: MigratedDatabase, keyring: Keyring, registry: PurgeRegistry
) -> None:
    from sqlalchemy import text

    from kallglot.privacy.retention import PURGE_LOCK_KEY

    if scratch.backend != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite is the single-node mode")
    org = make_org(scratch)
    add_note(scratch, org, "old", created_at=datetime(2020, 1, 1, tzinfo=UTC))
    with scratch.engine.connect() as other_node:
        other_node.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PURGE_LOCK_KEY})
        report = run_purge(scratch.sessions, registry=registry)
        assert report.skipped and report.total == 0
        other_node.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PURGE_LOCK_KEY})
        other_node.commit()
    report = run_purge(scratch.sessions, registry=registry)
    assert not report.skipped and report.total == 1


def test_policy_and_holds_render_as_api_bodies(scratch: MigratedDatabase) -> None:
    from kallglot.privacy.schemas import LegalHoldResponse, RetentionClassPolicy

    org = make_org(scratch)
    with scratch.sessions.begin() as session:
        set_retention_override(session, org, "recordings", 14)
        bodies = [RetentionClassPolicy.of(p).model_dump() for p in retention_policy(session, org)]
        hold = LegalHoldResponse.of(place_legal_hold(session, org, "regulator inquiry"))
    recordings = next(b for b in bodies if b["retention_class"] == "recordings")
    assert recordings["days"] == 14 and recordings["default_days"] == 30
    assert recordings["overridden"] is True
    assert hold.object == "legal_hold" and hold.released_at is None
