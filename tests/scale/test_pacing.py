"""The real-time pace that holds a flooding client to its share: a burst passes, a
sustained flood is held to one second of audio per second. Time comes from a clock the
test moves, except where the wait itself is the behaviour."""

from __future__ import annotations

import time

from kallglot.realtime.runtime import PROCESS_LEAD_MS, RealTimePace


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_audio_is_refused_until_real_time_catches_up() -> None:
    clock = Clock()
    pace = RealTimePace(capacity_ms=1000, clock=clock)
    assert all(pace.take(20) for _ in range(50))  # a 1 s burst, all at once
    assert not pace.take(20)  # nothing left
    clock.now += 0.1  # real time makes room for 100 ms of audio
    assert sum(pace.take(20) for _ in range(50)) == 5
    clock.now += 60  # a long pause refills the bucket to its capacity, not beyond
    assert sum(pace.take(20) for _ in range(100)) == 50


def test_refusals_are_reported_at_most_once_a_second() -> None:
    clock = Clock()
    pace = RealTimePace(capacity_ms=0, clock=clock)
    assert [pace.should_report() for _ in range(100)].count(True) == 1
    clock.now += 0.99
    assert not pace.should_report()
    clock.now += 0.01
    assert pace.should_report()


def test_recognition_runs_at_most_two_seconds_ahead_of_real_time() -> None:
    clock = Clock()
    pace = RealTimePace(PROCESS_LEAD_MS, clock=clock)
    # A client sends a minute of audio at once: two seconds of it are recognised now ...
    assert sum(pace.take(20) for _ in range(3000)) * 20 == 2000
    # ... and from then on one second of audio per second of real time.
    for _ in range(5):
        clock.now += 1.0
        assert sum(pace.take(20) for _ in range(3000)) * 20 == 1000


async def test_waiting_holds_processing_to_real_time() -> None:
    pace = RealTimePace(capacity_ms=100)
    started = time.monotonic()
    for _ in range(20):  # 400 ms of audio, 100 ms of it allowed ahead
        await pace.wait(20)
    # Held back at least until real time caught up (a loaded machine only adds to it).
    assert time.monotonic() - started >= 0.3 - 0.01
