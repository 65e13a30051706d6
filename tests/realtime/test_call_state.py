"""One call, one state: every (state, event) pair of the call's table, and the one end that
closes the session, its call record, the agent's part and the capacity slot — once, also
when two ends race."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from kallglot.core.clock import utcnow
from kallglot.db.engine import transaction
from kallglot.realtime import service
from kallglot.realtime.call_state import CallEvent, CallState, EndReason, close_call, step
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.models import CallSession, SessionTransition
from kallglot.realtime.runtime import Connection
from kallglot.realtime.schemas import CreateSession
from kallglot.realtime.state import SessionStatus
from kallglot.telephony.calls import service as calls
from kallglot.telephony.calls.models import CallRecord
from kallglot.telephony.routing.models import Agent
from tests.conftest import MigratedDatabase
from tests.factories import Identity
from tests.telephony_numbers.helpers import make_agent, make_number, make_queue, member_id

C, E = CallState, CallEvent
# The whole table, written out: a pair not named here must leave the state unchanged.
EXPECTED: dict[tuple[CallState, CallEvent], CallState] = {
    (C.CREATED, E.LEG_CONNECTED): C.CONNECTING,
    (C.CREATED, E.AUDIO_STARTED): C.ACTIVE,
    (C.CREATED, E.END): C.ENDING,
    (C.CREATED, E.FAIL): C.FAILED,
    (C.CONNECTING, E.AUDIO_STARTED): C.ACTIVE,
    (C.CONNECTING, E.END): C.ENDING,
    (C.CONNECTING, E.FAIL): C.FAILED,
    (C.ACTIVE, E.END): C.ENDING,
    (C.ACTIVE, E.FAIL): C.FAILED,
    (C.ENDING, E.FAIL): C.FAILED,
    (C.ENDING, E.FINISHED): C.ENDED,
}


@pytest.mark.parametrize("state", list(CallState))
@pytest.mark.parametrize("event", list(CallEvent))
def test_every_state_and_event_pair(state: CallState, event: CallEvent) -> None:
    moved = step(state, event)
    assert moved.after is EXPECTED.get((state, event), state)
    # Only the first end of a live call starts closing it: any end after it is a no-op.
    live = state in (C.CREATED, C.CONNECTING, C.ACTIVE)
    ending_event = event in (E.END, E.FAIL)
    assert moved.starts_end == (ending_event and (live or (state, event) == (C.ENDING, E.FAIL)))


@pytest.mark.parametrize("first", [E.END, E.FAIL])
@pytest.mark.parametrize("second", [E.END, E.FAIL])
@pytest.mark.parametrize("state", [C.CREATED, C.CONNECTING, C.ACTIVE])
def test_of_two_ends_only_the_first_starts_the_end(
    state: CallState, first: CallEvent, second: CallEvent
) -> None:
    after_first = step(state, first)
    after_second = step(after_first.after, second)
    assert after_first.starts_end
    # An end meeting an ending call is ignored; a loss of the node still fails it.
    assert after_second.starts_end == (after_first.after is C.ENDING and second is E.FAIL)


@dataclass
class AnsweredCall:
    session_id: str
    record_id: str
    agent_id: str


def answered_call(identity: Identity, database: MigratedDatabase, e164: str) -> AnsweredCall:
    """An inbound call routed to an available agent who answered it, with its session."""
    org = identity.organization()
    user = member_id(identity, org, "Ana")
    with transaction(database.sessions) as db:
        agent = make_agent(db, user, org, "Ana", ["en"], "available", 5)
        make_number(db, org, make_queue(db, org, [agent]), e164=e164)
        routed = calls.inbound(db, to_number=e164, from_number="+4915100000001", now=utcnow())
        session, _ = service.create_session(
            db, org.id, CreateSession.model_validate({"mode": "transcription"}), timedelta(5)
        )
        routed.call.session_id = session.id
        assert routed.offer.agent is not None
        calls.answer(db, routed.call, routed.offer.agent, utcnow())
        return AnsweredCall(session.id, routed.call.id, agent.id)


def stored(database: MigratedDatabase, call: AnsweredCall) -> tuple[CallSession, CallRecord, Agent]:
    with database.sessions() as db:
        return (
            db.get_one(CallSession, call.session_id),
            db.get_one(CallRecord, call.record_id),
            db.get_one(Agent, call.agent_id),
        )


def transitions_to(database: MigratedDatabase, session_id: str, status: str) -> int:
    with database.sessions() as db:
        return len(
            db.scalars(
                select(SessionTransition).where(
                    SessionTransition.session_id == session_id,
                    SessionTransition.to_status == status,
                )
            ).all()
        )


async def attached(hub: RealtimeHub, session_id: str) -> tuple[Connection, list[dict[str, Any]]]:
    with hub.sessions() as db:
        call = db.get_one(CallSession, session_id)
    runtime, _ = await hub.attach(call)
    received: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        received.append(message)

    connection = Connection(send)
    runtime.connections[connection.id] = connection
    return connection, received


async def test_two_ends_racing_close_every_part_of_the_call_once(
    app: FastAPI, identity: Identity, database: MigratedDatabase
) -> None:
    hub: RealtimeHub = app.state.realtime
    call = answered_call(identity, database, "+493012340001")
    _, received = await attached(hub, call.session_id)
    assert hub.admission.live_calls == 1

    # The caller's carrier stops the stream as the agent hangs up.
    await asyncio.gather(
        hub.end(call.session_id, EndReason.COMPLETED),
        hub.end(call.session_id, EndReason.AGENT_HANGUP),
    )

    session, record, agent = stored(database, call)
    assert (session.status, session.end_reason) == ("ended", "completed")
    assert (record.outcome, record.end_reason) == ("completed", "completed")
    assert record.ended_at is not None
    assert (agent.presence, agent.active_calls) == ("available", 0)
    assert transitions_to(database, call.session_id, "ended") == 1
    assert [m["reason"] for m in received if m["type"] == "session.ended"] == ["completed"]
    assert hub.admission.live_calls == 0
    assert call.session_id not in hub.runtimes


async def test_a_call_with_no_leg_for_the_grace_period_is_abandoned(
    app: FastAPI, identity: Identity, database: MigratedDatabase
) -> None:
    hub: RealtimeHub = app.state.realtime
    call = answered_call(identity, database, "+493012340002")
    connection, _ = await attached(hub, call.session_id)
    hub.abandon_after = timedelta(0)
    assert await hub.sweep_idle() == 0  # a leg is connected
    hub.runtimes[call.session_id].connections.pop(connection.id)
    assert await hub.sweep_idle() == 1

    session, record, agent = stored(database, call)
    assert (session.status, session.end_reason) == ("ended", "abandoned")
    assert (record.outcome, record.end_reason) == ("completed", "abandoned")
    assert agent.presence == "available"
    assert hub.admission.live_calls == 0


def test_an_end_after_the_end_changes_nothing(
    identity: Identity, database: MigratedDatabase
) -> None:
    call = answered_call(identity, database, "+493012340003")
    with transaction(database.sessions) as db:
        session = db.get_one(CallSession, call.session_id)
        assert close_call(db, session, EndReason.AGENT_HANGUP, utcnow())
        assert not close_call(db, session, EndReason.COMPLETED, utcnow())
        assert not close_call(db, session, EndReason.NODE_LOST, utcnow())
    session, record, _ = stored(database, call)
    assert (session.status, session.end_reason) == ("ended", "agent_hangup")
    assert record.end_reason == "agent_hangup"


def test_a_record_left_open_beside_an_ended_session_is_closed(
    identity: Identity, database: MigratedDatabase
) -> None:
    """What earlier versions left after a carrier's ``stop``: the session ended, the record
    ``in_progress``, the agent busy. The next end of that call closes what is open."""
    call = answered_call(identity, database, "+493012340004")
    with transaction(database.sessions) as db:
        service.finish(db, db.get_one(CallSession, call.session_id), "completed")
    with transaction(database.sessions) as db:
        assert not close_call(db, db.get_one(CallSession, call.session_id), "completed", utcnow())
    _, record, agent = stored(database, call)
    assert record.outcome == "completed"
    assert agent.presence == "available"


def test_on_start_a_node_ends_the_calls_its_crashed_run_left(
    app: FastAPI, identity: Identity, database: MigratedDatabase
) -> None:
    call = answered_call(identity, database, "+493012340005")
    waiting = answered_call(identity, database, "+493012340006")
    with transaction(database.sessions) as db:
        session = db.get_one(CallSession, call.session_id)
        service.transition(db, session, SessionStatus.CONNECTING, "connected")
        service.transition(db, session, SessionStatus.ACTIVE, "audio_started")

    with TestClient(app):  # the app starts (and stops) as after a kill -9
        pass

    session, record, agent = stored(database, call)
    assert (session.status, session.end_reason) == ("failed", "node_lost")
    assert (record.outcome, record.end_reason) == ("completed", "node_lost")
    assert (agent.presence, agent.active_calls) == ("available", 0)
    # A call nobody had joined yet still waits for its client.
    assert stored(database, waiting)[0].status == "created"
