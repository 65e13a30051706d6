"""Media nodes register with capacity, new calls go where there is room, dead nodes' calls fail."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis
from fastapi import FastAPI
from sqlalchemy import select

from kallglot.realtime.bus import organization_topic, session_topic
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.models import CallSession, SessionTransition
from kallglot.scale.failover import NODE_LOST, NodeAgent
from kallglot.scale.nodes import NodeRegistry
from tests.conftest import MigratedDatabase
from tests.realtime.conftest import new_session
from tests.support.waiting import until_async


async def _expired(client: redis.Redis, registry: NodeRegistry, node_id: str) -> bool:
    return not await client.exists(f"{registry.prefix}node:{node_id}")


async def test_new_calls_go_to_the_node_with_most_room_until_all_are_full(
    shared_redis: redis.Redis, prefix: str
) -> None:
    registry = NodeRegistry(shared_redis, prefix, ttl_seconds=30)
    await registry.heartbeat("node-a", "http://a", capacity=2, calls=[])
    await registry.heartbeat("node-b", "http://b", capacity=1, calls=[])

    placed = [await registry.place() for _ in range(4)]

    assert [node.id if node else None for node in placed] == ["node-a", "node-a", "node-b", None]
    # A heartbeat reports the real load: one of node-a's calls has ended.
    await registry.heartbeat("node-a", "http://a", capacity=2, calls=["ses_1"])
    again = await registry.place()
    assert again is not None and again.id == "node-a"


async def test_a_node_that_leaves_cleanly_takes_no_new_calls(
    shared_redis: redis.Redis, prefix: str
) -> None:
    registry = NodeRegistry(shared_redis, prefix, ttl_seconds=30)
    await registry.heartbeat("node-a", "http://a", capacity=2, calls=[])
    await registry.leave("node-a")
    assert await registry.nodes() == []
    assert await registry.place() is None


async def test_calls_of_a_node_that_stops_heartbeating_fail_and_consoles_are_told(
    shared_redis: redis.Redis,
    prefix: str,
    app: FastAPI,
    database: MigratedDatabase,
    organization_id: str,
) -> None:
    hub: RealtimeHub = app.state.realtime
    call_id, _ = new_session(database, organization_id, mode="transcription")
    registry = NodeRegistry(shared_redis, prefix, ttl_seconds=0.3)
    await registry.heartbeat("node-dead", "http://dead", capacity=2, calls=[call_id])
    survivor = NodeAgent(registry, hub, "node-live", "http://live", 2, interval_seconds=0.1)

    async with (
        hub.bus.subscribe(session_topic(call_id)) as session_events,
        hub.bus.subscribe(organization_topic(organization_id)) as console_events,
    ):
        await survivor.tick()  # the dead node is still within its lease
        with database.sessions() as db:
            assert db.get(CallSession, call_id).status == "created"  # type: ignore[union-attr]
        # The dead node's lease runs out (its hash expires in Redis; nothing renews it).
        await until_async(
            lambda: _expired(shared_redis, registry, "node-dead"), "the lease never ran out"
        )
        await survivor.tick()
        told = await asyncio.wait_for(anext(console_events), 5)
        assert told == {
            "type": "session.ended",
            "session_id": call_id,
            "reason": NODE_LOST,
            "node_id": "node-dead",
        }
        assert await asyncio.wait_for(anext(session_events), 5) == told

    with database.sessions() as db:
        call = db.get(CallSession, call_id)
        assert call is not None and call.status == "failed" and call.end_reason == NODE_LOST
        assert call.ended_at is not None
        reasons = db.scalars(
            select(SessionTransition.reason).where(SessionTransition.session_id == call_id)
        ).all()
        assert NODE_LOST in reasons
    assert [node.id for node in await registry.nodes()] == ["node-live"]
    # A second reaper finds nothing left to fail.
    assert await registry.reap() == {}
