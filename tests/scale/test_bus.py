"""Events published on one node reach subscribers on another, across Redis restarts."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as redis

from kallglot.core.settings import load_settings
from kallglot.realtime.bus import InProcessEventBus, session_topic
from kallglot.scale.bus import RedisEventBus, event_bus, redis_client
from tests.scale.conftest import SHARED_REDIS_URL, PrivateRedis


async def _next(events: Any, within: float = 5.0) -> dict[str, Any]:
    result: dict[str, Any] = await asyncio.wait_for(anext(events), within)
    return result


async def test_event_published_on_one_node_reaches_a_subscriber_on_another(
    shared_redis: redis.Redis, prefix: str
) -> None:
    publisher_client = redis_client(SHARED_REDIS_URL)
    node_a = RedisEventBus(publisher_client, prefix)
    node_b = RedisEventBus(shared_redis, prefix)
    topic = session_topic("ses_1")
    async with node_b.subscribe(topic) as events, node_b.subscribe("other") as others:
        await node_a.publish(topic, {"type": "transcript.final", "text": "hola"})
        assert await _next(events) == {"type": "transcript.final", "text": "hola"}
        await node_a.publish("other", {"type": "x"})
        assert await _next(others) == {"type": "x"}
    await publisher_client.aclose()


def test_the_redis_bus_is_chosen_only_when_redis_is_configured() -> None:
    assert isinstance(event_bus(load_settings(env="test")), InProcessEventBus)
    chosen = event_bus(load_settings(env="test", redis_url=SHARED_REDIS_URL))
    assert isinstance(chosen, RedisEventBus)


async def test_redis_restart_drops_events_meanwhile_then_delivery_resumes(
    private_redis: PrivateRedis,
) -> None:
    client = redis_client(private_redis.url)
    bus = RedisEventBus(client, "kg:")
    async with bus.subscribe("t") as events:
        await bus.publish("t", {"n": 1})
        assert await _next(events) == {"n": 1}

        private_redis.stop()
        await bus.publish("t", {"n": 2})  # dropped with a warning, not raised
        private_redis.start()

        # The subscriber reconnects on its own; publish until it is back.
        async def republish() -> None:
            while True:
                await bus.publish("t", {"n": 3})
                await asyncio.sleep(0.1)

        task = asyncio.create_task(republish())
        try:
            assert await _next(events, within=15) == {"n": 3}
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    await client.aclose()
