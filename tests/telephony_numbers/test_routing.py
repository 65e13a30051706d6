"""Routing: language and presence, longest idle first, ring timeout, overflow, concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from kallglot.core.clock import utcnow
from kallglot.telephony.calls import service as calls
from kallglot.telephony.routing import service as routing
from kallglot.telephony.routing.models import Agent, AgentActivity, Queue
from tests.conftest import MigratedDatabase
from tests.factories import Identity
from tests.telephony_numbers.helpers import make_agent, make_number, make_queue, member_id


def test_routing_picks_the_right_agent_and_overflows_when_none_is_free(
    identity: Identity, database: MigratedDatabase
) -> None:
    org = identity.organization()
    names = ["Anna", "Bernd", "Carol", "Dieter", "Emil", "Fritz", "Gisela"]
    users = {name: member_id(identity, org, name) for name in names}
    with database.sessions.begin() as db:
        agents = [
            make_agent(db, users["Anna"], org, "Anna", ["de", "en"], "available", idle_minutes=10),
            make_agent(db, users["Bernd"], org, "Bernd", ["de"], "available", idle_minutes=30),
            make_agent(db, users["Carol"], org, "Carol", ["en"], "available", idle_minutes=60),
            make_agent(db, users["Dieter"], org, "Dieter", ["de"], "busy", idle_minutes=90),
            make_agent(db, users["Emil"], org, "Emil", ["de"], "offline", idle_minutes=120),
            make_agent(db, users["Fritz"], org, "Fritz", ["de"], "away", idle_minutes=150),
            make_agent(db, users["Gisela"], org, "Gisela", ["de"], "wrap_up", idle_minutes=180),
        ]
        make_number(db, org, make_queue(db, org, agents))

    picked = []
    for caller in ("+4915112345671", "+4915112345672", "+4915112345673", "+4915112345674"):
        with database.sessions.begin() as db:
            routed = calls.inbound(
                db,
                to_number="+49 30 12345670",
                from_number=caller,
                now=utcnow(),
                caller_language="de",
            )
            picked.append(routed.offer.agent.display_name if routed.offer.agent else None)
            last = routed
    # German speakers first, longest idle first; then an English speaker (the call is
    # translated); busy, offline, away and wrap-up agents never; then overflow.
    assert picked == ["Bernd", "Anna", "Carol", None]
    assert last.offer.overflow_action == "message"
    assert last.offer.overflow_message is not None
    assert last.offer.overflow_message.startswith("Leider")
    with database.sessions() as db:
        assert db.get(type(last.call), last.call.id).outcome == "overflow_message"


def test_ring_timeout_offers_the_call_to_the_next_agent(
    identity: Identity, database: MigratedDatabase
) -> None:
    org = identity.organization()
    users = {name: member_id(identity, org, name) for name in ("First", "Second")}
    with database.sessions.begin() as db:
        first = make_agent(db, users["First"], org, "First", ["fr"], "available", idle_minutes=50)
        second = make_agent(db, users["Second"], org, "Second", ["fr"], "available", idle_minutes=5)
        make_number(db, org, make_queue(db, org, [first, second], overflow="hangup"))
        first_id, second_id = first.id, second.id
    with database.sessions.begin() as db:
        routed = calls.inbound(
            db,
            to_number="+493012345670",
            from_number="+33612345678",
            now=utcnow(),
            caller_language="fr",
        )
        assert routed.offer.agent is not None
        assert routed.offer.agent.id == first_id
        call_id = routed.call.id
    with database.sessions.begin() as db:
        call = db.get(type(routed.call), call_id)
        assert call is not None
        offer = calls.ring_timeout(db, call, utcnow())
        assert offer.agent is not None
        assert offer.agent.id == second_id
        calls.answer(db, call, offer.agent, utcnow())
        assert call.outcome == "in_progress"
        assert call.agent_language == "fr"
        calls.end(db, call, utcnow())
        assert call.outcome == "completed"
    with database.sessions() as db:
        first_agent = db.get(Agent, first_id)
        second_agent = db.get(Agent, second_id)
        assert first_agent is not None and second_agent is not None
        assert first_agent.active_calls == 0
        assert second_agent.presence == "available"  # back to what it was before the call
        events = db.scalars(
            select(AgentActivity.event)
            .where(AgentActivity.call_id == call_id)
            .order_by(AgentActivity.id)
        ).all()
        assert events.count("call_offered") == 2
        assert "call_missed" in events
        assert "call_answered" in events
    # Nobody left: the caller hears the French message and the call is hung up.
    with database.sessions.begin() as db:
        again = calls.inbound(
            db,
            to_number="+493012345670",
            from_number="+33612345679",
            now=utcnow(),
            caller_language="fr",
        )
        assert again.offer.agent is not None  # "First" is free again
        # ... and so is the agent who took the last call: next in line.
        assert calls.ring_timeout(db, again.call, utcnow()).agent is not None
        nobody = calls.ring_timeout(db, again.call, utcnow())
        assert nobody.agent is None
        assert nobody.overflow_action == "hangup"
        assert nobody.overflow_message is not None
        assert nobody.overflow_message.startswith("Désolé")


def _route_two_calls_at_once(database: MigratedDatabase, queue_id: str) -> list[str | None]:
    """Two transactions each reserve an agent and hold it until both have one, then commit."""
    barrier = threading.Barrier(2, timeout=10)
    results: list[str | None] = []
    errors: list[BaseException] = []

    def route() -> None:
        try:
            with database.sessions() as db, db.begin():
                queue = db.get(Queue, queue_id)
                assert queue is not None
                offer = routing.pick_agent(db, queue, "de")
                # Both transactions hold their reservation at the same time: without
                # SKIP LOCKED the second would wait for the first and the barrier would break.
                barrier.wait()
                results.append(offer.agent.id if offer.agent else None)
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=route) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


@pytest.mark.parametrize("available", [2, 1])
def test_concurrent_routing_never_assigns_the_same_agent_twice(
    identity: Identity, database: MigratedDatabase, available: int
) -> None:
    if database.backend != "postgresql":
        pytest.skip("real concurrent transactions need PostgreSQL (SQLite has one writer)")
    org = identity.organization()
    users = {
        f"Agent{index}": member_id(identity, org, f"Agent{index}") for index in range(available)
    }
    with database.sessions.begin() as db:
        agents = [
            make_agent(
                db,
                users[f"Agent{index}"],
                org,
                f"Agent{index}",
                ["de"],
                "available",
                idle_minutes=index,
            )
            for index in range(available)
        ]
        queue = make_queue(db, org, agents)
        queue_id = queue.id

    for _ in range(10):
        results = _route_two_calls_at_once(database, queue_id)
        chosen = [agent_id for agent_id in results if agent_id is not None]
        assert len(chosen) == len(set(chosen)), results
        assert len(chosen) == min(2, available)
        # Free everyone again for the next round.
        with database.sessions.begin() as db:
            for agent in db.scalars(select(Agent).where(Agent.organization_id == org.id)):
                agent.active_calls = 0


def test_unanswered_calls_move_on_after_the_queue_ring_timeout(
    identity: Identity, database: MigratedDatabase
) -> None:
    org = identity.organization()
    users = {name: member_id(identity, org, name) for name in ("Uno", "Due")}
    start = utcnow()
    with database.sessions.begin() as db:
        uno = make_agent(db, users["Uno"], org, "Uno", ["it"], "available", idle_minutes=9)
        due = make_agent(db, users["Due"], org, "Due", ["it"], "available", idle_minutes=1)
        make_number(db, org, make_queue(db, org, [uno, due]))  # ring timeout 20 s
        uno_id, due_id = uno.id, due.id
        routed = calls.inbound(
            db,
            to_number="+493012345670",
            from_number="+393331234567",
            now=start,
            caller_language="it",
        )
        assert routed.offer.agent is not None and routed.offer.agent.id == uno_id
    with database.sessions.begin() as db:
        assert calls.ring_timeouts_due(db, start + timedelta(seconds=10)) == []
    with database.sessions.begin() as db:
        moved = calls.ring_timeouts_due(db, start + timedelta(seconds=21))
        assert [(call.id, offer.agent.id if offer.agent else None) for call, offer in moved] == [
            (routed.call.id, due_id)
        ]
    with database.sessions.begin() as db:
        moved = calls.ring_timeouts_due(db, start + timedelta(seconds=45))
        assert moved[0][1].agent is None
        assert moved[0][1].overflow_message is not None
        assert moved[0][1].overflow_message.startswith("Siamo")
