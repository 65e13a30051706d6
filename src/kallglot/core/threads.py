"""Blocking work for background tasks, run so that cancelling the task never orphans it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


async def run_to_completion(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``function`` in a worker thread; if the caller is cancelled, wait for it to finish.

    ``asyncio.to_thread`` lets a cancelled caller return while its thread still runs; a
    lifespan that then disposes the database engine leaves that thread's connection open.
    """
    work = asyncio.ensure_future(asyncio.to_thread(function, *args, **kwargs))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        raise
