"""The event bus over Redis pub/sub, so events reach consoles and webhooks on any node.

It implements the interface of :class:`kallglot.realtime.bus.InProcessEventBus`.
Publishing while Redis is down drops the event with a warning (live events are
ephemeral; the database keeps the record). Subscribers reconnect with backoff and
resume receiving once Redis is back.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from kallglot.core.settings import Settings
from kallglot.realtime.bus import Event, EventBus, InProcessEventBus

logger = logging.getLogger(__name__)

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)


def raise_if_cancelled() -> None:
    """Stop a loop that rides out Redis errors once its task is cancelled.

    redis-py can absorb a cancellation that lands mid-command: it turns it into its own
    timeout error, which its retry then swallows (the command may even succeed), or a
    read with a timeout returns ``None``. Without a check after every Redis call, such
    a loop carries on and whoever awaits the cancelled task waits forever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def reconnect_delay(attempt: int) -> float:
    """How long to wait before reconnection attempt ``attempt`` (0-based): backs off to 2 s."""
    return RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]


def redis_client(url: str) -> redis.Redis:
    """A client that decodes to ``str`` and whose every network wait has a timeout.

    A command is retried twice, briefly, then raises one of ``REDIS_DOWN``: callers
    (heartbeats, subscriptions) do their own slower backoff, and none waits unbounded.
    """
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=2,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        health_check_interval=10,
    )


def event_bus(settings: Settings) -> EventBus:
    """Redis pub/sub when ``KALLGLOT_REDIS_URL`` is set, else the in-process bus."""
    if settings.redis_url:
        return RedisEventBus(redis_client(settings.redis_url), settings.redis_prefix)
    return InProcessEventBus()


class RedisEventBus:
    def __init__(self, client: redis.Redis, prefix: str = "kallglot:") -> None:
        self.client = client
        self.prefix = prefix

    def channel(self, topic: str) -> str:
        return f"{self.prefix}bus:{topic}"

    async def publish(self, topic: str, event: Event) -> None:
        try:
            await self.client.publish(self.channel(topic), json.dumps(event))
        except REDIS_DOWN:
            logger.warning("redis unavailable; event dropped", extra={"topic": topic})
        finally:
            raise_if_cancelled()  # also when a retry absorbed the cancellation and succeeded

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[AsyncIterator[Event]]:
        """Events published on ``topic`` from now on; survives Redis restarts."""
        channel = self.channel(topic)
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        await self._subscribe(pubsub, channel)

        async def events() -> AsyncIterator[Event]:
            nonlocal pubsub
            while True:
                try:
                    message = await pubsub.get_message(timeout=1.0)
                except REDIS_DOWN:
                    raise_if_cancelled()
                    logger.warning("redis subscription lost; reconnecting")
                    await _close(pubsub)
                    pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                    await self._subscribe(pubsub, channel)
                    continue
                raise_if_cancelled()
                if message is not None and message["type"] == "message":
                    decoded: dict[str, Any] = json.loads(message["data"])
                    yield decoded

        try:
            yield events()
        finally:
            await _close(pubsub)

    @staticmethod
    async def _subscribe(pubsub: Any, channel: str) -> None:
        attempt = 0
        while True:
            try:
                await pubsub.subscribe(channel)
                return
            except REDIS_DOWN:
                await asyncio.sleep(reconnect_delay(attempt))
                attempt += 1
            finally:
                raise_if_cancelled()


async def _close(pubsub: Any) -> None:
    await pubsub.aclose()
