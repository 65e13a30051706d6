"""Runs the purge job periodically inside the server (a task owned by the app's lifespan)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.orm import Session, sessionmaker

from kallglot.core.threads import run_to_completion
from kallglot.privacy.purgers import load_purgers
from kallglot.privacy.retention import PurgeRegistry, default_registry, run_purge

logger = logging.getLogger(__name__)


async def purge_periodically(
    sessions: sessionmaker[Session],
    interval_seconds: float,
    registry: PurgeRegistry = default_registry,
) -> None:
    """Wait ``interval_seconds``, purge in a worker thread, repeat until cancelled.

    Cancelled while a purge runs, it waits for that purge to finish (a thread cannot be
    interrupted) before it ends, so the caller may dispose of the engine afterwards.
    """
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await run_to_completion(run_purge, sessions, registry=registry)
        except Exception:
            # One failed run must not stop later ones; the next run retries what is left.
            logger.exception("retention purge failed")


def start_retention_task(
    sessions: sessionmaker[Session], interval_seconds: int
) -> asyncio.Task[None] | None:
    """Start the periodic purge (``interval_seconds`` 0 disables it); the caller cancels it."""
    if interval_seconds <= 0:
        return None
    load_purgers()
    return asyncio.create_task(purge_periodically(sessions, interval_seconds), name="retention")
