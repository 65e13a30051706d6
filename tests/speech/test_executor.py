"""The speech pool runs what a listener waits for before work that can wait."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kallglot.speech.executor import SpeechPool, Urgency


def _blocked_pool() -> tuple[SpeechPool, threading.Event]:
    """A one-worker pool whose worker is busy until the returned event is set."""
    pool = SpeechPool(workers=1)
    release = threading.Event()
    pool.submit(Urgency.WAITED_FOR, release.wait)
    return pool, release


def test_waited_for_work_overtakes_queued_work_and_each_urgency_keeps_arrival_order() -> None:
    pool, release = _blocked_pool()
    ran: list[str] = []
    jobs = [
        pool.submit(Urgency.SOON, lambda: ran.append("partial 1")),
        pool.submit(Urgency.SOON, lambda: ran.append("second clause")),
        pool.submit(Urgency.SOON, lambda: ran.append("partial 2")),
        pool.submit(Urgency.WAITED_FOR, lambda: ran.append("final 1")),
        pool.submit(Urgency.WAITED_FOR, lambda: ran.append("final 2")),
    ]
    release.set()
    for job in jobs:
        job.result(timeout=5)
    assert ran == ["final 1", "final 2", "partial 1", "second clause", "partial 2"]


def test_a_job_cancelled_while_queued_never_runs() -> None:
    pool, release = _blocked_pool()
    ran: list[str] = []
    stale = pool.submit(Urgency.SOON, lambda: ran.append("stale partial"))
    assert stale.cancel()
    after = pool.submit(Urgency.SOON, lambda: ran.append("next"))
    release.set()
    after.result(timeout=5)
    assert ran == ["next"]


def test_an_engine_error_reaches_the_caller_and_the_worker_goes_on() -> None:
    pool = SpeechPool(workers=1)

    def fail() -> None:
        raise RuntimeError("engine failed")

    with pytest.raises(RuntimeError, match="engine failed"):
        pool.submit(Urgency.WAITED_FOR, fail).result(timeout=5)
    assert pool.submit(Urgency.WAITED_FOR, lambda: 42).result(timeout=5) == 42


async def test_cancelling_the_awaiting_task_drops_the_queued_job() -> None:
    pool, release = _blocked_pool()
    ran: list[str] = []
    waiting = asyncio.ensure_future(
        asyncio.wrap_future(pool.submit(Urgency.SOON, lambda: ran.append("partial")))
    )
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0)  # the cancellation reaches the pool's future on the next turn
    release.set()
    pool.submit(Urgency.WAITED_FOR, lambda: None).result(timeout=5)
    assert ran == []
