"""The speech pool runs what a listener waits for first, and one job per engine at a time."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from kallglot.speech.executor import Lane, SpeechPool, Urgency

ASR, MT, TTS = Lane.RECOGNITION, Lane.TRANSLATION, Lane.SYNTHESIS


def _blocked_pool(lane: Lane = ASR, workers: int = 1) -> tuple[SpeechPool, threading.Event]:
    """A pool whose ``lane`` is busy (and one worker with it) until the event is set."""
    pool = SpeechPool(workers=workers)
    release = threading.Event()
    pool.submit(lane, Urgency.WAITED_FOR, release.wait)
    return pool, release


def test_waited_for_work_overtakes_queued_work_and_each_urgency_keeps_arrival_order() -> None:
    pool, release = _blocked_pool()
    ran: list[str] = []
    jobs = [
        pool.submit(ASR, Urgency.SOON, lambda: ran.append("partial 1")),
        pool.submit(TTS, Urgency.SOON, lambda: ran.append("second clause")),
        pool.submit(ASR, Urgency.SOON, lambda: ran.append("partial 2")),
        pool.submit(ASR, Urgency.WAITED_FOR, lambda: ran.append("final 1")),
        pool.submit(MT, Urgency.WAITED_FOR, lambda: ran.append("translation")),
    ]
    release.set()
    for job in jobs:
        job.result(timeout=5)
    assert ran == ["final 1", "translation", "partial 1", "second clause", "partial 2"]


def test_a_busy_engine_does_not_hold_the_other_worker() -> None:
    pool, release = _blocked_pool(ASR, workers=2)
    second_decode = pool.submit(ASR, Urgency.WAITED_FOR, lambda: time.monotonic())
    translation = pool.submit(MT, Urgency.WAITED_FOR, lambda: time.monotonic())
    translated_at = translation.result(timeout=5)  # while the first decode still runs
    assert not second_decode.done(), "two decodes ran at once on one engine"
    release.set()
    assert second_decode.result(timeout=5) > translated_at


def test_a_job_cancelled_while_queued_never_runs() -> None:
    pool, release = _blocked_pool()
    ran: list[str] = []
    stale = pool.submit(ASR, Urgency.SOON, lambda: ran.append("stale partial"))
    assert stale.cancel()
    after = pool.submit(ASR, Urgency.SOON, lambda: ran.append("next"))
    release.set()
    after.result(timeout=5)
    assert ran == ["next"]


def test_an_engine_error_reaches_the_caller_and_the_lane_goes_on() -> None:
    pool = SpeechPool(workers=1)

    def fail() -> None:
        raise RuntimeError("engine failed")

    with pytest.raises(RuntimeError, match="engine failed"):
        pool.submit(MT, Urgency.WAITED_FOR, fail).result(timeout=5)
    assert pool.submit(MT, Urgency.WAITED_FOR, lambda: 42).result(timeout=5) == 42


def test_jobs_of_one_batch_key_queued_together_run_as_one_batch() -> None:
    pool, release = _blocked_pool()
    batches: list[list[str]] = []

    def run(items: list[str]) -> list[str]:
        batches.append(items)
        return [item.upper() for item in items]

    finals = [
        pool.submit_batched(ASR, Urgency.WAITED_FOR, run, f"final {n}", "beam 3") for n in (1, 2, 3)
    ]
    partial = pool.submit_batched(ASR, Urgency.SOON, run, "partial", "beam 3")
    other = pool.submit_batched(ASR, Urgency.WAITED_FOR, run, "greedy final", "beam 1")
    release.set()
    assert [f.result(timeout=5) for f in finals] == ["FINAL 1", "FINAL 2", "FINAL 3"]
    assert (partial.result(timeout=5), other.result(timeout=5)) == ("PARTIAL", "GREEDY FINAL")
    assert batches == [["final 1", "final 2", "final 3"], ["greedy final"], ["partial"]]


def test_a_failing_batch_is_run_again_item_by_item_so_only_the_bad_item_fails() -> None:
    pool, release = _blocked_pool()
    calls: list[list[str]] = []

    def run(items: list[str]) -> list[str]:
        calls.append(items)
        if "bad" in items:
            raise ValueError("bad input")
        return items

    jobs = [
        pool.submit_batched(ASR, Urgency.WAITED_FOR, run, item, "k") for item in ("a", "bad", "c")
    ]
    release.set()
    assert jobs[0].result(timeout=5) == "a"
    assert jobs[2].result(timeout=5) == "c"
    with pytest.raises(ValueError, match="bad input"):
        jobs[1].result(timeout=5)
    assert calls == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]


def test_a_lane_with_two_slots_runs_two_jobs_at_once_and_halves_a_batch() -> None:
    pool = SpeechPool(workers=3, slots={ASR: 2})
    release = threading.Event()
    first_started = threading.Event()
    batches: list[list[str]] = []

    def run(items: list[str]) -> list[str]:
        batches.append(items)
        time.sleep(0.05)  # both workers pick their half before either is done
        return items

    def blocked() -> None:
        first_started.set()
        release.wait()

    decoding = pool.submit(ASR, Urgency.SOON, blocked)
    assert first_started.wait(5)
    alongside = pool.submit(ASR, Urgency.WAITED_FOR, lambda: "final beside the partial")
    assert alongside.result(timeout=5) == "final beside the partial"
    release.set()
    decoding.result(timeout=5)

    # Both workers busy elsewhere while four finals queue; then each takes half of them.
    two_workers = SpeechPool(workers=2, slots={ASR: 2})
    release.clear()
    started = [threading.Event(), threading.Event()]

    def hold(n: int) -> None:
        started[n].set()
        release.wait()

    two_workers.submit(MT, Urgency.WAITED_FOR, lambda: hold(0))
    two_workers.submit(TTS, Urgency.WAITED_FOR, lambda: hold(1))
    assert all(event.wait(5) for event in started)
    finals = [
        two_workers.submit_batched(ASR, Urgency.WAITED_FOR, run, f"f{n}", "k") for n in range(4)
    ]
    release.set()
    assert [f.result(timeout=5) for f in finals] == ["f0", "f1", "f2", "f3"]
    assert sorted(len(batch) for batch in batches) == [2, 2]


async def test_cancelling_the_awaiting_task_drops_the_queued_job() -> None:
    pool, release = _blocked_pool()
    ran: list[str] = []
    waiting = asyncio.ensure_future(
        asyncio.wrap_future(pool.submit(ASR, Urgency.SOON, lambda: ran.append("partial")))
    )
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0)  # the cancellation reaches the pool's future on the next turn
    release.set()
    pool.submit(ASR, Urgency.WAITED_FOR, lambda: None).result(timeout=5)
    assert ran == []
