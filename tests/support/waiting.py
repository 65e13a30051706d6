"""The one way a test waits for something: poll a condition until it holds, failing
with ``what`` after a generous ``within`` seconds (generous because a busy 2-core CI machine is
slow; the limit is a hang guard, never a speed assertion)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

POLL_S = 0.05
DEFAULT_TIMEOUT_S = 60.0


def _expired(what: str, last: object) -> AssertionError:
    return AssertionError(f"{what} (not reached; last seen: {last!r})")


def wait_until(
    condition: Callable[[], T], what: str = "condition", within: float = DEFAULT_TIMEOUT_S
) -> T:
    """Block until ``condition()`` is truthy; return that value."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _expired(what, value)
        time.sleep(POLL_S)


async def until(
    condition: Callable[[], T], what: str = "condition", within: float = DEFAULT_TIMEOUT_S
) -> T:
    """Wait (without blocking the loop) until ``condition()`` is truthy; return that value."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _expired(what, value)
        await asyncio.sleep(POLL_S)


async def until_async(
    probe: Callable[[], Awaitable[T]], what: str = "condition", within: float = DEFAULT_TIMEOUT_S
) -> T:
    """Like :func:`until` for a condition that must itself be awaited."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _expired(what, value)
        await asyncio.sleep(POLL_S)
