"""The bounded pool where speech models run, off the event loop.

Three worker threads by default (``KALLGLOT_SPEECH_WORKERS``); the native engines
release the GIL, so threads are enough. Work comes in two urgencies: what a listener is
waiting for (a final, its translation, the first words of its speech) runs before work
that has slack (live partials, later clauses synthesised while earlier ones play).
Within an urgency, jobs run in arrival order, so one call's long utterance cannot starve
another call. Each engine is a lane with a fixed number of slots (one, but recognition
has one per Whisper replica, ``KALLGLOT_SPEECH_ASR_REPLICAS``), so a queue of Whisper
decodes never holds every worker while a 3 ms translation waits (measured at 4 calls:
translations finished up to 700 ms after their final).

A job may be *batched*: when a worker takes it, the jobs of the same kind queued beside
it (same lane, urgency and batch key) run with it as one batch. Four callers who stop
speaking together have their finals decoded in one Whisper run: 1.6 s on this machine
instead of 3.8 s one after another, with the same text. When a lane has two free slots,
each takes half of the batch.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, ParamSpec, TypeVar

from kallglot.core.settings import get_settings

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
A = TypeVar("A")
MAX_BATCH = 8


class Urgency(IntEnum):
    WAITED_FOR = 0
    SOON = 1


class Lane(StrEnum):
    """An engine that runs one job per slot (a Whisper replica runs one decode at once,
    Piper has one onnxruntime session, translators are locked): a further job for a busy
    lane waits in the queue, not on a worker, so the other worker stays free."""

    RECOGNITION = "recognition"
    TRANSLATION = "translation"
    SYNTHESIS = "synthesis"


@dataclass(order=True)
class _Job:
    urgency: int
    order: int
    lane: Lane = field(compare=False)
    # A single job is a batch of one: run([item]) -> [result].
    run: Callable[[list[Any]], Sequence[Any]] = field(compare=False)
    item: Any = field(compare=False)
    batch_key: Hashable | None = field(compare=False)
    future: Future[Any] = field(compare=False)
    queued_at: float = field(compare=False, default_factory=time.monotonic)

    def joins(self, first: _Job) -> bool:
        return first.batch_key is not None and (self.lane, self.urgency, self.batch_key) == (
            first.lane,
            first.urgency,
            first.batch_key,
        )


def _call(items: list[Callable[[], T]]) -> list[T]:
    return [work() for work in items]


class SpeechPool:
    """Worker threads that take the most urgent, then the oldest, job of a free lane."""

    def __init__(self, workers: int, slots: dict[Lane, int] | None = None) -> None:
        self._changed = threading.Condition()
        self._queued: list[_Job] = []
        self._slots = slots or {}
        self._busy: Counter[Lane] = Counter()
        self._order = itertools.count()
        for n in range(workers):
            threading.Thread(target=self._work, name=f"speech-{n}", daemon=True).start()

    def submit(self, lane: Lane, urgency: Urgency, work: Callable[[], T]) -> Future[T]:
        return self.submit_batched(lane, urgency, _call, work, None)

    def submit_batched(
        self,
        lane: Lane,
        urgency: Urgency,
        run: Callable[[list[A]], Sequence[T]],
        item: A,
        batch_key: Hashable | None,
    ) -> Future[T]:
        """``run`` gets this item with those of the other jobs of this key queued beside it,
        and returns their results in order (``batch_key`` None: never batched)."""
        future: Future[T] = Future()
        with self._changed:
            self._queued.append(
                _Job(urgency, next(self._order), lane, run, item, batch_key, future)
            )
            self._changed.notify()
        return future

    def _next(self) -> list[_Job]:
        with self._changed:
            while True:
                runnable = [job for job in self._queued if self._free(job.lane)]
                if runnable:
                    first = min(runnable)
                    batch = [
                        first,
                        *(job for job in self._queued if job is not first and job.joins(first)),
                    ]
                    # With two free slots on the lane, half the batch each.
                    share = -(-len(batch) // self._free(first.lane))
                    batch = batch[: min(MAX_BATCH, share)]
                    for job in batch:
                        self._queued.remove(job)
                    self._busy[first.lane] += 1
                    return batch
                self._changed.wait()

    def _free(self, lane: Lane) -> int:
        return self._slots.get(lane, 1) - self._busy[lane]

    def _work(self) -> None:
        while True:
            batch = self._next()
            try:
                # False when cancelled while queued, e.g. a partial its final made stale.
                self._execute([job for job in batch if job.future.set_running_or_notify_cancel()])
            finally:
                with self._changed:
                    self._busy[batch[0].lane] -= 1
                    self._changed.notify_all()

    def _execute(self, batch: list[_Job]) -> None:
        if not batch:
            return
        started = time.monotonic()
        try:
            results = batch[0].run([job.item for job in batch])
            # Where the time goes under load (KALLGLOT_LOG_LEVEL=DEBUG).
            logger.debug(
                "speech job: lane %s, urgency %d, batch of %d, waited %.3f s, ran %.3f s",
                batch[0].lane,
                batch[0].urgency,
                len(batch),
                started - batch[0].queued_at,
                time.monotonic() - started,
            )
        except BaseException as exc:  # handed to the awaiting callers
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            # One bad item must not fail the others: each runs alone, only it fails again.
            for job in batch:
                self._execute([job])
            return
        for job, result in zip(batch, results, strict=True):
            job.future.set_result(result)


_lock = threading.Lock()
_pool: SpeechPool | None = None


def speech_pool() -> SpeechPool:
    """The process-wide pool (created on first use)."""
    global _pool
    with _lock:
        if _pool is None:
            settings = get_settings()
            _pool = SpeechPool(
                settings.speech_workers, {Lane.RECOGNITION: settings.speech_asr_replicas}
            )
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


async def run_batched(
    lane: Lane,
    urgency: Urgency,
    run: Callable[[list[A]], Sequence[T]],
    item: A,
    *,
    batch_key: Hashable,
) -> T:
    """Run ``run([item, …])`` with the items of the jobs of ``batch_key`` queued with it."""
    future = speech_pool().submit_batched(lane, urgency, run, item, batch_key)
    return await asyncio.wrap_future(future)
