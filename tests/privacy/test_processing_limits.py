"""Restriction and objection where data is processed: call recording, transcripts, analytics
(but not billing)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import select

from kallglot.billing import analytics
from kallglot.billing.metering import SESSION_MINUTES, meter_session
from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.privacy import requests as dsr
from kallglot.privacy.install import PrivacyProcessing
from kallglot.privacy.requests import RequestType
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.models import CallSession, Recording, TranscriptTurn, UtteranceTiming
from kallglot.realtime.protocol import Party
from kallglot.realtime.runtime import FinalTurn
from kallglot.realtime.service import latency_summary
from kallglot.telephony.calls.service import new_record
from tests.billing.conftest import ended_session
from tests.conftest import MigratedDatabase
from tests.privacy.subjects_seed import ACTOR, verified_request
from tests.realtime.conftest import new_session, organization_id

__all__ = ["organization_id"]  # the fixture: an organization with prepaid credit

ORGANIZATION_NUMBER = "+4930901820"


def new_phone() -> str:
    return f"+4917{secrets.randbelow(10**8):08d}"


def link_caller(database: MigratedDatabase, org_id: str, session_id: str, phone: str) -> None:
    """The call record that names the session's caller (as inbound routing writes it)."""
    with database.sessions.begin() as db:
        new_record(
            db,
            org_id,
            direction="inbound",
            from_number=phone,
            to_number=ORGANIZATION_NUMBER,
            now=utcnow(),
            session_id=session_id,
        )


def limit(database: MigratedDatabase, org_id: str, kind: RequestType, phone: str) -> None:
    request_id = verified_request(database, org_id, kind, phone=phone)
    with database.sessions.begin() as db:
        request = db.get_one(dsr.SubjectRequest, request_id)
        if kind is RequestType.RESTRICTION:
            dsr.restrict(db, request, ACTOR)
        else:
            dsr.object_to(db, request, ACTOR)


def final_turn(text: str) -> FinalTurn:
    return FinalTurn(new_id("utt"), Party.CALLER, text, "es", "hello", "en", 0, 900, 0.9)


async def run_call(database: MigratedDatabase, hub: RealtimeHub, session_id: str) -> bool:
    """Attach, speak one turn, record a second of audio, end; True if a recorder was made."""
    with database.sessions() as db:
        call = db.get_one(CallSession, session_id)
    runtime, store = await hub.attach(call)
    await store.turn(final_turn("hola"))
    recorded = runtime.recorder is not None
    if runtime.recorder is not None:
        runtime.recorder.add(0, "caller", b"\x10\x00" * 16000)
    await hub.end(session_id, "completed")
    return recorded


async def test_a_restricted_callers_call_is_neither_recorded_nor_transcribed(
    database: MigratedDatabase, app: FastAPI, organization_id: str
) -> None:
    hub: RealtimeHub = app.state.realtime
    restricted, objecting = new_phone(), new_phone()
    limit(database, organization_id, RequestType.RESTRICTION, restricted)
    limit(database, organization_id, RequestType.OBJECTION, objecting)
    calls = {}
    for phone in (restricted, objecting):
        session_id, _ = new_session(
            database,
            organization_id,
            mode="bidirectional_translation",
            source_language="es",
            target_language="en",
            recording={"enabled": True},
        )
        link_caller(database, organization_id, session_id, phone)
        calls[phone] = (session_id, await run_call(database, hub, session_id))

    with database.sessions() as db:

        def kept(session_id: str) -> tuple[int, int]:
            turns = db.scalars(
                select(TranscriptTurn).where(TranscriptTurn.session_id == session_id)
            ).all()
            recordings = db.scalars(
                select(Recording).where(Recording.session_id == session_id)
            ).all()
            return len(turns), len(recordings)

        restricted_id, restricted_recorder = calls[restricted]
        objecting_id, objecting_recorder = calls[objecting]
        assert not restricted_recorder and kept(restricted_id) == (0, 0)
        # Objection covers analytics and sampling, not the recording the organization asked for.
        # (One turn; the recording as three channels: agent, customer, mixed.)
        assert objecting_recorder and kept(objecting_id) == (1, 3)


async def test_a_restriction_arriving_during_the_call_drops_its_recording(
    database: MigratedDatabase, app: FastAPI, organization_id: str
) -> None:
    hub: RealtimeHub = app.state.realtime
    phone = new_phone()
    session_id, _ = new_session(
        database,
        organization_id,
        mode="transcription",
        source_language="es",
        recording={"enabled": True},
    )
    with database.sessions() as db:
        call = db.get_one(CallSession, session_id)
    runtime, store = await hub.attach(call)
    assert runtime.recorder is not None
    runtime.recorder.add(0, "caller", b"\x10\x00" * 16000)
    await store.turn(final_turn("antes"))  # kept: nobody is restricted yet
    link_caller(database, organization_id, session_id, phone)
    limit(database, organization_id, RequestType.RESTRICTION, phone)
    await store.turn(final_turn("despues"))
    await hub.end(session_id, "completed")

    with database.sessions() as db:
        turns = db.scalars(select(TranscriptTurn).where(TranscriptTurn.session_id == session_id))
        assert len(turns.all()) == 1
        recordings = db.scalars(select(Recording).where(Recording.session_id == session_id))
        assert recordings.all() == []


def test_analytics_leave_out_restricted_and_objecting_callers_but_billing_counts_them(
    database: MigratedDatabase, app: FastAPI, organization_id: str
) -> None:
    restricted, objecting, plain = new_phone(), new_phone(), new_phone()
    sessions = {
        restricted: ended_session(database, organization_id, 119.5, pair=("es", "en")),
        objecting: ended_session(database, organization_id, 59.5, pair=("pt", "en")),
        plain: ended_session(database, organization_id, 29.5, pair=("es", "en")),
    }
    for phone, session_id in sessions.items():
        link_caller(database, organization_id, session_id, phone)
    with database.sessions.begin() as db:
        for session_id, ms in zip(sessions.values(), (3000, 2000, 1000), strict=True):
            db.add(
                UtteranceTiming(
                    id=new_id("tim"),
                    session_id=session_id,
                    organization_id=organization_id,
                    speaker="caller",
                    utterance_id=new_id("utt"),
                    speech_ended_at=utcnow() - timedelta(minutes=1),
                    asr_final_ms=ms // 2,
                    mt_done_ms=ms - 100,
                    first_audio_ms=ms,
                )
            )
    since, until = utcnow() - timedelta(days=1), utcnow() + timedelta(minutes=1)

    def minutes() -> tuple[int, int]:
        with database.sessions() as db:
            (row,) = analytics.minutes_by_day(db, organization_id, since, until)
            return int(str(row["sessions"])), int(str(row["minutes"]))

    assert minutes() == (3, 2 + 1 + 1)
    limit(database, organization_id, RequestType.RESTRICTION, restricted)
    limit(database, organization_id, RequestType.OBJECTION, objecting)

    assert minutes() == (1, 1)
    with database.sessions() as db:
        pairs = analytics.calls_by_language_pair(db, organization_id, since, until)
        assert pairs == [{"language_pair": "es-en", "calls": 1}]
        assert analytics.latency(db, organization_id, since, until)["average_ms"] == 1000.0
        organization_wide = latency_summary(db, PrivacyProcessing(), organization_id)
        assert organization_wide.end_of_speech_to_first_audio.max_ms == 1000.0
        # One session's own figure is the service's, not an analytic: still there.
        own = latency_summary(db, PrivacyProcessing(), organization_id, sessions[restricted])
        assert own.end_of_speech_to_first_audio.max_ms == 3000.0
        billed = {
            session_id: sum(
                record.quantity
                for record in meter_session(db, db.get_one(CallSession, session_id))
                if record.metric == SESSION_MINUTES
            )
            for session_id in sessions.values()
        }
    # Invoicing is not analytics: every minute delivered is still metered.
    assert billed == {sessions[restricted]: 2, sessions[objecting]: 1, sessions[plain]: 1}
