"""The event bus: what happens in a call, published once, read by consoles, stores and webhooks.

In one process it is a set of bounded queues; with several nodes a Redis
implementation takes its place behind the same two methods.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

logger = logging.getLogger(__name__)

Event = dict[str, Any]


class EventBus(Protocol):
    async def publish(self, topic: str, event: Event) -> None: ...

    def subscribe(self, topic: str) -> Any:
        """An async context manager yielding an async iterator of events."""
        ...


class InProcessEventBus:
    """Fan-out to bounded queues; a subscriber that falls behind loses its oldest events."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscribers: defaultdict[str, set[asyncio.Queue[Event]]] = defaultdict(set)

    async def publish(self, topic: str, event: Event) -> None:
        for queue in list(self._subscribers.get(topic, ())):
            if queue.full():
                queue.get_nowait()
                logger.warning("event subscriber fell behind", extra={"topic": topic})
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[AsyncIterator[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers[topic].add(queue)

        async def events() -> AsyncIterator[Event]:
            while True:
                yield await queue.get()

        try:
            yield events()
        finally:
            self._subscribers[topic].discard(queue)
            if not self._subscribers[topic]:
                del self._subscribers[topic]


def session_topic(session_id: str) -> str:
    return f"session:{session_id}"


def organization_topic(organization_id: str) -> str:
    return f"organization:{organization_id}"
