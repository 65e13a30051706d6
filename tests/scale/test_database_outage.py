"""PostgreSQL unreachable under a live call: the call's writes never block
or fail, they wait in the durable local queue, and land after the database returns,
in order and exactly once. The outage is real: a TCP proxy between the app and
PostgreSQL drops every connection and refuses new ones."""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
from collections.abc import Awaitable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from kallglot.accounts.models import Organization
from kallglot.api.app import create_app
from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.core.settings import load_settings
from kallglot.crypto.wrapping import LocalKeyWrapper
from kallglot.db import migrate
from kallglot.db.engine import build_engine, normalise_url, session_factory
from kallglot.privacy.install import PrivacyProcessing
from kallglot.realtime import service
from kallglot.realtime.hub import DatabaseCallStore, call_writes
from kallglot.realtime.models import CallSession, TranscriptTurn, UtteranceTiming
from kallglot.realtime.protocol import Party
from kallglot.realtime.runtime import FinalTurn, Timing
from kallglot.realtime.schemas import CreateSession
from kallglot.realtime.state import SessionStatus
from kallglot.realtime.transcripts import open_turn_text
from kallglot.scale.outbox import LocalQueue
from tests.conftest import MigratedDatabase
from tests.scale.conftest import CuttableProxy
from tests.support.waiting import until

# CI's PostgreSQL at its standard port unless the run names another.
POSTGRES_URL = os.environ.get(
    "KALLGLOT_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
OUTAGE_TURNS = 5
HANG_GUARD_SECONDS = 60.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[tuple[MigratedDatabase, str]]:
    """A migrated schema of this module's own; yields (direct database, schema)."""
    schema = f"kg_outage_{secrets.token_hex(6)}"
    admin = build_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _url(make_url(normalise_url(POSTGRES_URL)).port or 5432, schema)
    try:
        migrate.upgrade(url)
        engine = build_engine(url)
        yield MigratedDatabase(url, engine, session_factory(engine)), schema
        engine.dispose()
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _url(port: int, schema: str) -> str:
    base = make_url(normalise_url(POSTGRES_URL)).set(host="127.0.0.1", port=port)
    return base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture
def proxy() -> Iterator[CuttableProxy]:
    target = make_url(normalise_url(POSTGRES_URL))
    relay = CuttableProxy(target.host or "127.0.0.1", target.port or 5432)
    relay.start()
    yield relay
    relay.stop()


def _turn(number: int) -> FinalTurn:
    return FinalTurn(
        utterance_id=f"utt_{number}",
        speaker=Party.CALLER,
        language="de",
        text=f"Satz {number}",
        translation_language="en",
        translation=f"Sentence {number}",
        start_ms=number * 1000,
        end_ms=number * 1000 + 800,
        confidence=0.9,
    )


async def _guarded(write: Awaitable[None]) -> None:
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        await write


async def test_call_writes_during_a_database_outage_land_after_it_in_order_exactly_once(
    postgres: tuple[MigratedDatabase, str], proxy: CuttableProxy, tmp_path: Path
) -> None:
    direct, schema = postgres
    with direct.sessions.begin() as db:
        organization = Organization(id=new_id("org"), name="Outage", slug=new_id("slug"))
        db.add(organization)
        db.flush()
        call, _ = service.create_session(
            db,
            organization.id,
            CreateSession.model_validate({"mode": "transcription"}),
            timedelta(minutes=5),
        )
    engine = build_engine(_url(proxy.port, schema))  # the app's way to the database
    queue = LocalQueue(
        tmp_path / "var" / "call-writes.sqlite3", LocalKeyWrapper(secrets.token_bytes(32))
    )
    writes = call_writes(session_factory(engine), queue, PrivacyProcessing)
    store = DatabaseCallStore(call.id, organization.id, writes)
    replay = asyncio.create_task(writes.run(interval_s=0.2))
    try:
        await asyncio.to_thread(store.set_status, SessionStatus.CONNECTING, "connected")
        await store.mark_active()
        await store.turn(_turn(1))
        assert len(queue) == 0  # the database is up: written at once

        proxy.cut()
        for number in range(2, 2 + OUTAGE_TURNS):
            # Each write returns while the database is still unreachable: set aside in
            # the local queue, not waited out (the guard only stops a hang).
            before = len(queue)
            await _guarded(store.turn(_turn(number)))
            await _guarded(store.touch())
            assert len(queue) == before + 2
        await _guarded(store.timing(Timing("utt_1", Party.CALLER, utcnow(), 400, 600, None)))
        await _guarded(store.languages("de", "en"))
        assert len(queue) == 2 * OUTAGE_TURNS + 2
        proxy.restore()

        await until(lambda: len(queue) == 0, "the queued writes did not land")
        # A crash between "landed" and "removed from the queue" replays an entry: the
        # appliers skip rows that exist, so it still lands once.
        landed_turn = {
            "id": (await asyncio.to_thread(_turn_ids, direct, call.id))[-1],
            "session_id": call.id,
            "organization_id": organization.id,
            **_fields(_turn(OUTAGE_TURNS + 1)),
        }
        await asyncio.to_thread(queue.append, call.id, "turn", landed_turn)
        await asyncio.to_thread(writes.drain)
        assert len(queue) == 0 and queue.refused() == []
    finally:
        replay.cancel()
        await asyncio.gather(replay, return_exceptions=True)
        engine.dispose()

    with direct.sessions() as db:
        turns = db.scalars(
            select(TranscriptTurn)
            .where(TranscriptTurn.session_id == call.id)
            .order_by(TranscriptTurn.sequence)
        ).all()
        assert [turn.sequence for turn in turns] == list(range(1, OUTAGE_TURNS + 2))
        assert [open_turn_text(db, turn) for turn in turns] == [
            (f"Satz {n}", f"Sentence {n}") for n in range(1, OUTAGE_TURNS + 2)
        ]
        stored = db.get(CallSession, call.id)
        assert stored is not None and stored.status == SessionStatus.ACTIVE.value
        assert (stored.source_language, stored.target_language) == ("de", "en")
        assert (
            len(
                db.scalars(
                    select(UtteranceTiming).where(UtteranceTiming.session_id == call.id)
                ).all()
            )
            == 1
        )


def _turn_ids(database: MigratedDatabase, call_id: str) -> list[str]:
    with database.sessions() as db:
        return list(
            db.scalars(
                select(TranscriptTurn.id)
                .where(TranscriptTurn.session_id == call_id)
                .order_by(TranscriptTurn.sequence)
            )
        )


def _fields(turn: FinalTurn) -> dict[str, object]:
    return {
        "speaker": turn.speaker.value,
        "language": turn.language,
        "text": turn.text,
        "translation_language": turn.translation_language,
        "translation": turn.translation,
        "start_ms": turn.start_ms,
        "end_ms": turn.end_ms,
        "confidence": turn.confidence,
    }


def test_the_call_write_queue_lives_where_the_settings_say_readable_only_by_us(
    database: MigratedDatabase, tmp_path: Path
) -> None:
    chosen = tmp_path / "elsewhere" / "queue.sqlite3"
    for configured, expected in (
        (None, tmp_path / "var" / "call-writes.sqlite3"),
        (chosen, chosen),
    ):
        settings = load_settings(
            env="test",
            database_url=database.url,
            var_dir=tmp_path / "var",
            call_write_queue=configured,
            call_write_retry_seconds=0.5,
        )
        app = create_app(settings)
        try:
            queue: LocalQueue = app.state.realtime.writes.queue
            assert queue.path == expected
            assert stat.S_IMODE(expected.stat().st_mode) == 0o600
        finally:
            app.state.engine.dispose()
