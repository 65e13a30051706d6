"""The bounded pool where speech models run, off the event loop.

Two cores: two worker threads by default (``KALLGLOT_SPEECH_WORKERS``); the native
engines release the GIL, so threads are enough. Work comes in two urgencies: what a
listener is waiting for (a final, its translation, the first clause of its speech) runs
before work that has slack (live partials, later clauses synthesised while earlier ones
play). Within an urgency, jobs run in arrival order, so one call's long utterance
cannot starve another call. Each engine is a lane that runs one job at a time, so a
queue of Whisper decodes never holds both workers while a 3 ms translation waits
(measured at 4 calls: translations finished up to 700 ms after their final).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, ParamSpec, TypeVar

from kallglot.core.settings import get_settings

P = ParamSpec("P")
T = TypeVar("T")


class Urgency(IntEnum):
    WAITED_FOR = 0
    SOON = 1


class Lane(StrEnum):
    """An engine that runs one job at a time (CTranslate2 runs one Whisper decode at once,
    Piper has one onnxruntime session, translators are locked): a second job for a busy
    lane waits in the queue, not on a worker, so the other worker stays free."""

    RECOGNITION = "recognition"
    TRANSLATION = "translation"
    SYNTHESIS = "synthesis"


@dataclass(order=True)
class _Job:
    urgency: int
    order: int
    lane: Lane = field(compare=False)
    work: Callable[[], Any] = field(compare=False)
    future: Future[Any] = field(compare=False)


class SpeechPool:
    """Worker threads that take the most urgent, then the oldest, job of a free lane."""

    def __init__(self, workers: int) -> None:
        self._changed = threading.Condition()
        self._queued: list[_Job] = []
        self._busy: set[Lane] = set()
        self._order = itertools.count()
        for n in range(workers):
            threading.Thread(target=self._work, name=f"speech-{n}", daemon=True).start()

    def submit(self, lane: Lane, urgency: Urgency, work: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._changed:
            self._queued.append(_Job(urgency, next(self._order), lane, work, future))
            self._changed.notify()
        return future

    def _next(self) -> _Job:
        with self._changed:
            while True:
                runnable = [job for job in self._queued if job.lane not in self._busy]
                if runnable:
                    job = min(runnable)
                    self._queued.remove(job)
                    self._busy.add(job.lane)
                    return job
                self._changed.wait()

    def _work(self) -> None:
        while True:
            job = self._next()
            try:
                # False when cancelled while queued, e.g. a partial its final made stale.
                if job.future.set_running_or_notify_cancel():
                    try:
                        job.future.set_result(job.work())
                    except BaseException as exc:  # handed to the awaiting caller
                        job.future.set_exception(exc)
            finally:
                with self._changed:
                    self._busy.discard(job.lane)
                    self._changed.notify_all()


_lock = threading.Lock()
_pool: SpeechPool | None = None


def speech_pool() -> SpeechPool:
    """The process-wide pool (created on first use)."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = SpeechPool(get_settings().speech_workers)
        return _pool


async def _run(lane: Lane, urgency: Urgency, work: Callable[[], T]) -> T:
    # Cancelling the awaiting task cancels the job too, if it has not started yet.
    return await asyncio.wrap_future(speech_pool().submit(lane, urgency, work))


async def run_blocking(lane: Lane, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``func`` on ``lane`` before any work that can wait; await its result."""
    return await _run(lane, Urgency.WAITED_FOR, functools.partial(func, *args, **kwargs))


async def run_soon(lane: Lane, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``func`` on ``lane`` once no waited-for work of that lane is queued."""
    return await _run(lane, Urgency.SOON, functools.partial(func, *args, **kwargs))
