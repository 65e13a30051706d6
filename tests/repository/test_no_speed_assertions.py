"""Tests assert behaviour, never speed: an upper bound on elapsed wall time fails on a
busy machine and belongs in ``bench/``. This check keeps such bounds out of ``tests/``."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

# A measured duration compared as the smaller side: `elapsed < 2`, `took <= x`,
# `time.monotonic() - started < 3`, `2 > perf_counter() - t0`, `0.1 <= elapsed <= 0.4`.
_CLOCK = r"(?:monotonic|perf_counter|time|loop\.time|process_time)\(\)"
UPPER_BOUNDS = [
    re.compile(r"\b(?:elapsed|took|duration_s|seconds_taken)\w*\s*<"),
    re.compile(r">=?\s*(?:elapsed|took|duration_s|seconds_taken)\b"),
    re.compile(_CLOCK + r"\s*-\s*[\w.\[\]]+\)?\s*<"),
    re.compile(r">=?\s*\(?\s*(?:time\.)?" + _CLOCK + r"\s*-"),
    # ... or against a named allowance of time: `< WRITE_BOUND_SECONDS`, `+ LATENCY_SLACK_MS`.
    re.compile(r"<=?\s*[^#]*\b\w*(?:BOUND_SECONDS|SLACK_MS|SLACK_S)\b"),
]


def upper_bounds_in(source: str) -> list[tuple[int, str]]:
    found = []
    for number, line in enumerate(source.splitlines(), 1):
        code = line.split("#", 1)[0]
        if any(pattern.search(code) for pattern in UPPER_BOUNDS):
            found.append((number, line.strip()))
    return found


def test_the_check_recognises_an_upper_bound_on_elapsed_time() -> None:
    for offending in (
        "assert elapsed < 2",
        "assert 0.16 <= elapsed <= 0.4",
        "assert time.monotonic() - started < 3",
        "assert 5 > time.perf_counter() - t0",
        "assert took <= 1.0",
        "assert await _bounded(write) < WRITE_BOUND_SECONDS",
        "assert worst(beside) <= worst(alone) + LATENCY_SLACK_MS",
    ):
        assert upper_bounds_in(offending), offending
    for allowed in (
        "assert time.monotonic() - started >= 0.07",  # a lower bound: held back, not fast
        "deadline = time.monotonic() + 10",
        "assert elapsed >= 0.3  # paced",
    ):
        assert not upper_bounds_in(allowed), allowed


def test_no_test_bounds_elapsed_wall_time_from_above() -> None:
    offences = [
        f"{path.relative_to(TESTS.parent)}:{number}: {line}"
        for path in sorted(TESTS.rglob("*.py"))
        if path != Path(__file__).resolve()
        for number, line in upper_bounds_in(path.read_text())
    ]
    assert not offences, "speed belongs in bench/, not in a test:\n" + "\n".join(offences)
