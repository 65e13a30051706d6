"""The real-time pace that holds a flooding client to its share: a burst passes, a
sustained flood is held to one second of audio per second."""

from __future__ import annotations

import time

from kallglot.realtime.runtime import RealTimePace


def test_a_burst_passes_then_audio_is_refused_until_real_time_catches_up() -> None:
    pace = RealTimePace(capacity_ms=1000)
    assert all(pace.take(20) for _ in range(50))  # a 1 s burst, all at once
    assert not pace.take(20)  # nothing left
    time.sleep(0.1)  # real time makes room for 100 ms of audio
    taken = sum(pace.take(20) for _ in range(50))
    assert 4 <= taken <= 6


def test_refusals_are_reported_at_most_once_a_second() -> None:
    pace = RealTimePace(capacity_ms=0)
    assert [pace.should_report() for _ in range(100)].count(True) == 1


async def test_waiting_holds_processing_to_real_time() -> None:
    pace = RealTimePace(capacity_ms=100)
    started = time.monotonic()
    for _ in range(20):  # 400 ms of audio, 100 ms of it allowed ahead
        await pace.wait(20)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed <= 1.0
