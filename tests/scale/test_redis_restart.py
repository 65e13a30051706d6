"""A Redis restart under a running node: heartbeats and subscriptions back off and
reconnect on their own; the node registers again and events resume. Every wait in
here is bounded, so a regression fails the test instead of hanging CI."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kallglot.api.app import create_app
from kallglot.core.errors import ServiceUnavailableError
from kallglot.core.settings import Settings
from kallglot.infra.shared_state import RedisSharedState, sync_redis_client
from kallglot.scale.bus import REDIS_DOWN, RedisEventBus, redis_client
from kallglot.scale.failover import NodeAgent
from kallglot.scale.nodes import NodeRegistry
from tests.scale.conftest import PrivateRedis
from tests.support.waiting import until

WHOLE_TEST_SECONDS = 45


async def _registered(registry: NodeRegistry, within: float) -> list[str]:
    async with asyncio.timeout(within):
        while True:
            try:
                found = [node.id for node in await registry.nodes()]
            except REDIS_DOWN:
                found = []
            if found:
                return found
            await asyncio.sleep(0.05)


async def _publish_until_received(bus: RedisEventBus, events: Any, within: float) -> Any:
    """The subscriber reconnects on its own; keep publishing until one arrives."""

    async def republish() -> None:
        while True:
            await bus.publish("t", {"n": "after"})
            await asyncio.sleep(0.1)

    task = asyncio.create_task(republish())
    try:
        return await asyncio.wait_for(anext(events), within)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _skipped(caplog: pytest.LogCaptureFixture) -> int:
    return sum(r.getMessage() == "redis unavailable; heartbeat skipped" for r in caplog.records)


async def test_a_node_rides_out_a_redis_restart_then_registers_and_receives_again(
    private_redis: PrivateRedis, app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kallglot.scale.failover")
    client = redis_client(private_redis.url)
    registry = NodeRegistry(client, "kg:", ttl_seconds=5)
    bus = RedisEventBus(client, "kg:")
    agent = NodeAgent(registry, app.state.realtime, "node-a", "http://a", 2, interval_seconds=0.1)
    heartbeats = asyncio.create_task(agent.run())
    try:
        async with asyncio.timeout(WHOLE_TEST_SECONDS), bus.subscribe("t") as events:
            assert await _registered(registry, within=5) == ["node-a"]
            await bus.publish("t", {"n": "before"})
            assert await asyncio.wait_for(anext(events), 5) == {"n": "before"}

            private_redis.stop()
            await bus.publish("t", {"n": "lost"})  # dropped with a warning, not raised
            # Heartbeats fail meanwhile (twice: the loop went round after a failure) and
            # the loop carries on.
            await until(lambda: _skipped(caplog) >= 2, "no heartbeat met the stopped Redis")
            assert not heartbeats.done()

            private_redis.start()  # an empty Redis: heartbeats rebuild the registry
            assert await _registered(registry, within=10) == ["node-a"]
            assert await _publish_until_received(bus, events, within=15) == {"n": "after"}
    finally:
        heartbeats.cancel()
        await asyncio.gather(heartbeats, return_exceptions=True)
        await client.aclose()


async def test_shared_state_calls_fail_fast_while_redis_is_down_and_work_after(
    private_redis: PrivateRedis,
) -> None:
    state = RedisSharedState(sync_redis_client(private_redis.url), "kg:")
    try:
        async with asyncio.timeout(WHOLE_TEST_SECONDS):
            assert await asyncio.to_thread(state.claim, "lock", "1", 30)
            private_redis.stop()
            # Refused (the whole test's timeout guards against a hang instead).
            with pytest.raises(ServiceUnavailableError) as refused:
                await asyncio.to_thread(state.claim, "lock", "1", 30)
            assert refused.value.code == "shared_state_unavailable"
            private_redis.start()
            # The restarted Redis is empty (no persistence): the lock can be taken again.
            assert await asyncio.to_thread(state.claim, "lock", "2", 30)
            assert await asyncio.to_thread(state.get, "lock") == "2"
    finally:
        state.close()


def test_while_redis_is_down_guarded_requests_get_503_not_unguarded_runs(
    private_redis: PrivateRedis, settings: Settings
) -> None:
    app = create_app(settings.model_copy(update={"redis_url": private_redis.url}))
    client = TestClient(app, raise_server_exceptions=False)
    try:
        private_redis.stop()
        login = client.post("/v1/auth/login", json={"email": "a@example.com", "password": "x"})
        keyed = client.post(
            "/v1/auth/login",
            json={"email": "a@example.com", "password": "x"},
            headers={"Idempotency-Key": "k1"},
        )
        for refused in (login, keyed):
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "shared_state_unavailable"
            assert refused.headers["Retry-After"] == "5"
    finally:
        client.close()
        app.state.engine.dispose()
        app.state.shared_state.close()
