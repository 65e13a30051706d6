"""This node's side of the registry: heartbeats, and failing the calls of dead nodes.

Every node heartbeats its capacity and its live calls, and reaps nodes that
stopped heart-beating: their calls are marked failed (``node_lost``) in the
database, which emits the ``session.ended`` webhook, and the session's and the
organization's consoles are told over the event bus.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kallglot.core.clock import utcnow
from kallglot.core.settings import Settings
from kallglot.db.engine import transaction
from kallglot.realtime.bus import EventBus, organization_topic, session_topic
from kallglot.realtime.call_state import EndReason, close_call
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.models import CallSession
from kallglot.realtime.protocol import event
from kallglot.realtime.state import SessionStatus
from kallglot.scale.bus import REDIS_DOWN, raise_if_cancelled, reconnect_delay, redis_client
from kallglot.scale.nodes import NodeRegistry

logger = logging.getLogger(__name__)

NODE_LOST = EndReason.NODE_LOST


def fail_orphaned_calls(sessions: sessionmaker[Session], call_ids: list[str]) -> list[CallSession]:
    """End the calls of a dead node (``failed``, reason ``node_lost``) with their call
    records and agents; returns those changed (already-ended ones are kept)."""
    failed = []
    with transaction(sessions) as db:
        for call_id in call_ids:
            call = db.get(CallSession, call_id, with_for_update=True)
            if call is not None and close_call(db, call, EndReason.NODE_LOST, utcnow()):
                failed.append(call)
        db.flush()
        for call in failed:
            db.expunge(call)
    return failed


def calls_left_by_a_crash(sessions: sessionmaker[Session]) -> list[str]:
    """A node alone (no registry): every call that had joined a node is this node's, and if
    it is not ending now it was left by a previous run that died. Calls nobody has joined
    yet (``created``) wait for their client and are not touched."""
    attached = (SessionStatus.CONNECTING, SessionStatus.ACTIVE, SessionStatus.ENDING)
    with sessions() as db:
        return list(
            db.scalars(
                select(CallSession.id).where(
                    CallSession.status.in_([status.value for status in attached])
                )
            )
        )


async def end_calls_of_previous_run(
    hub: RealtimeHub, registry: NodeRegistry | None, node_id: str
) -> list[CallSession]:
    """At start, before serving: end the calls this node owned before it crashed."""
    if registry is None:
        owned = await asyncio.to_thread(calls_left_by_a_crash, hub.sessions)
    else:
        owned = await registry.calls_of(node_id)
    owned = [call_id for call_id in owned if call_id not in hub.runtimes]
    if not owned:
        return []
    ended = await asyncio.to_thread(fail_orphaned_calls, hub.sessions, owned)
    if ended:
        logger.warning("calls of a previous run ended", extra={"calls": len(ended)})
    await announce_lost(hub.bus, node_id, ended)
    return ended


async def announce_lost(bus: EventBus, node_id: str, calls: list[CallSession]) -> None:
    for call in calls:
        message = event("session.ended", call.id, reason=NODE_LOST, node_id=node_id)
        await bus.publish(session_topic(call.id), message)
        await bus.publish(organization_topic(call.organization_id), message)


class NodeAgent:
    def __init__(
        self,
        registry: NodeRegistry,
        hub: RealtimeHub,
        node_id: str,
        url: str,
        capacity: int,
        interval_seconds: float,
    ) -> None:
        self.registry = registry
        self.hub = hub
        self.node_id = node_id
        self.url = url
        self.capacity = capacity
        self.interval = interval_seconds

    def live_calls(self) -> list[str]:
        return [cid for cid, runtime in self.hub.runtimes.items() if not runtime.ended.is_set()]

    async def tick(self) -> None:
        """One heartbeat and one reaping pass."""
        await self.registry.heartbeat(self.node_id, self.url, self.capacity, self.live_calls())
        for dead, call_ids in (await self.registry.reap()).items():
            failed = await asyncio.to_thread(fail_orphaned_calls, self.hub.sessions, call_ids)
            logger.warning(
                "media node lost; its calls failed", extra={"node": dead, "calls": len(failed)}
            )
            await announce_lost(self.hub.bus, dead, failed)

    async def run(self) -> None:
        """Heartbeat until cancelled. While Redis is down, retry with backoff (capped
        at the heartbeat interval) so the node registers again soon after it returns;
        no failure (Redis, or the database while reaping) stops the loop."""
        failures = 0
        while True:
            try:
                await self.tick()
                failures = 0
                delay = self.interval
            except REDIS_DOWN:
                logger.warning("redis unavailable; heartbeat skipped")
                delay = min(reconnect_delay(failures), self.interval)
                failures += 1
            except Exception:
                logger.exception("heartbeat failed; retrying")
                delay = self.interval
            raise_if_cancelled()
            await asyncio.sleep(delay)


@asynccontextmanager
async def running(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """End what a crashed previous run left; heartbeat and reap while the app runs, when
    Redis is configured."""
    hub: RealtimeHub = app.state.realtime
    if not settings.redis_url:
        await end_calls_of_previous_run(hub, None, settings.node_id)
        yield
        return
    client = redis_client(settings.redis_url)
    registry = NodeRegistry(client, settings.redis_prefix, settings.node_ttl_seconds)
    agent = NodeAgent(
        registry,
        app.state.realtime,
        settings.node_id,
        settings.node_url or settings.public_base_url,
        settings.node_capacity,
        settings.node_heartbeat_seconds,
    )
    try:
        await end_calls_of_previous_run(hub, registry, settings.node_id)
        await agent.tick()  # registered before the first request is served
    except REDIS_DOWN:
        logger.warning("redis unavailable at start; registering when it returns")
    app.state.node_registry = registry
    task = asyncio.create_task(agent.run(), name="node-heartbeat")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        try:
            await registry.leave(settings.node_id)
        except REDIS_DOWN:
            logger.warning("redis unavailable; node left without deregistering")
        await client.aclose()
