"""The bounded pool where speech models run, off the event loop.

Two cores: two worker threads by default (``KALLGLOT_SPEECH_WORKERS``); the native
engines release the GIL, so threads are enough. Work comes in two urgencies: what a
listener is waiting for (a final, its translation, the first clause of its speech) runs
before work that has slack (live partials, later clauses synthesised while earlier ones
play). Within an urgency, jobs run in arrival order, so one call's long utterance
cannot starve another call.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ParamSpec, TypeVar

from kallglot.core.settings import get_settings

P = ParamSpec("P")
T = TypeVar("T")


class Urgency(IntEnum):
    WAITED_FOR = 0
    SOON = 1


@dataclass(order=True)
class _Job:
    urgency: int
    order: int
    work: Callable[[], Any] = field(compare=False)
    future: Future[Any] = field(compare=False)


class SpeechPool:
    """Worker threads that always take the most urgent, then the oldest, job."""

    def __init__(self, workers: int) -> None:
        self._jobs: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._order = itertools.count()
        self._threads = [
            threading.Thread(target=self._work, name=f"speech-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, urgency: Urgency, work: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._jobs.put(_Job(urgency, next(self._order), work, future))
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if not job.future.set_running_or_notify_cancel():
                continue  # cancelled while queued, e.g. a partial its final made stale
            try:
                job.future.set_result(job.work())
            except BaseException as exc:  # handed to the awaiting caller
                job.future.set_exception(exc)


_lock = threading.Lock()
_pool: SpeechPool | None = None


def speech_pool() -> SpeechPool:
    """The process-wide pool (created on first use)."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = SpeechPool(get_settings().speech_workers)
        return _pool


async def _run(urgency: Urgency, work: Callable[[], T]) -> T:
    # Cancelling the awaiting task cancels the job too, if it has not started yet.
    return await asyncio.wrap_future(speech_pool().submit(urgency, work))


async def run_blocking(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``func`` in the speech pool before any work that can wait; await its result."""
    return await _run(Urgency.WAITED_FOR, functools.partial(func, *args, **kwargs))


async def run_soon(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``func`` in the speech pool once no waited-for work is queued."""
    return await _run(Urgency.SOON, functools.partial(func, *args, **kwargs))
