"""Load: N concurrent two-way translated calls against one media node or several.

For each N in ``--calls`` it runs N calls of ``bench/call.py`` at once (FLEURS audio
over the session WebSocket, paced at real time, real models), spread round-robin
over the ``--base-url`` nodes, and prints per N: end of speech → first translated
audio p50/p95, real-time factor, server CPU and memory per call, dropped frames
(the server's ``audio_*`` errors) and late frames (sent more than a frame late),
then the largest N whose p95 stays within the 2.5 s target.

    python bench/load.py --base-url http://127.0.0.1:8001 [--base-url http://127.0.0.1:8002]
        [--calls 1,2,3] [--pair es-en] [--clip 4] [--json results.json]

Servers must run on this machine for CPU and memory figures (they are found by port).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from call import CallResult, api_key, one_call, server_pid, summarise

TARGET_P95_S = 2.5


@dataclass
class NodeUsage:
    process: psutil.Process | None
    cpu_s: float = 0.0
    rss_mb: float = 0.0

    @classmethod
    def sample(cls, base_url: str) -> NodeUsage:
        pid = server_pid(base_url)
        process = psutil.Process(pid) if pid is not None else None
        if process is None:
            return cls(None)
        with process.oneshot():
            times = process.cpu_times()
            return cls(process, times.user + times.system, process.memory_info().rss / 2**20)


async def run_level(
    base_urls: list[str], key: str, pair: tuple[str, str], clip: int, calls: int
) -> dict[str, Any]:
    before = [NodeUsage.sample(url) for url in base_urls]
    started = time.monotonic()
    results: list[CallResult] = list(
        await asyncio.gather(
            *(one_call(base_urls[i % len(base_urls)], key, pair, clip) for i in range(calls))
        )
    )
    wall = time.monotonic() - started
    after = [NodeUsage.sample(url) for url in base_urls]
    summary = summarise(results, base_urls[0])
    cpu_s = sum(a.cpu_s - b.cpu_s for a, b in zip(after, before, strict=True))
    rss_mb = sum(a.rss_mb for a in after)
    dropped = [e for r in results for e in r.errors if e.startswith("audio_")]
    return {
        "calls": calls,
        "nodes": len(base_urls),
        "latency_s": summary["latency_s"],
        "utterances": sum(d["utterances"] for d in summary["directions"].values()),
        "wer": summary["wer"],
        "rtf": summary["rtf"],
        "cpu_s_per_call": round(cpu_s / calls, 2),
        "cpu_percent_per_call": round(100 * cpu_s / wall / calls, 1),
        "rss_mb_per_call": round(rss_mb / calls, 1),
        "rss_mb_total": round(rss_mb, 1),
        "dropped_frame_errors": len(dropped),
        "late_frames": sum(r.late_frames for r in results),
        "errors": summary["errors"],
    }


def largest_within_target(levels: list[dict[str, Any]]) -> int | None:
    held = [
        level["calls"]
        for level in levels
        if level["latency_s"]["p95"] is not None and level["latency_s"]["p95"] <= TARGET_P95_S
    ]
    return max(held) if held else None


def print_table(levels: list[dict[str, Any]]) -> None:
    print(
        f"{'N':>3} {'nodes':>5} {'utts':>4} {'p50 s':>6} {'p95 s':>6} {'RTF':>5} "
        f"{'CPU s/call':>10} {'CPU %/call':>10} {'RSS MB/call':>11} {'dropped':>7} {'late':>5}"
    )
    for level in levels:
        latency = level["latency_s"]
        print(
            f"{level['calls']:>3} {level['nodes']:>5} {level['utterances']:>4} "
            f"{_fmt(latency['p50'])} {_fmt(latency['p95'])} {level['rtf']:>5.2f} "
            f"{level['cpu_s_per_call']:>10.1f} {level['cpu_percent_per_call']:>10.1f} "
            f"{level['rss_mb_per_call']:>11.0f} {level['dropped_frame_errors']:>7} "
            f"{level['late_frames']:>5}"
        )


def _fmt(value: float | None) -> str:
    return f"{value:>6.2f}" if value is not None else "     -"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", action="append", required=True, help="repeat per node")
    parser.add_argument("--calls", default="1,2,3", help="comma-separated concurrency levels")
    parser.add_argument("--pair", default="es-en", help="caller-agent languages")
    parser.add_argument("--clip", type=int, default=4, help="FLEURS clip index 0-4")
    parser.add_argument("--api-key")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    caller, _, agent = args.pair.partition("-")
    key = api_key(args.api_key)
    levels = []
    for calls in (int(n) for n in args.calls.split(",")):
        levels.append(await run_level(args.base_url, key, (caller, agent), args.clip, calls))
        print_table(levels[-1:])
    print(f"\n{len(args.base_url)} node(s), pair {args.pair}, clip {args.clip}")
    print_table(levels)
    best = largest_within_target(levels)
    print(f"largest N with p95 <= {TARGET_P95_S} s: {best if best is not None else 'none'}")
    if args.json:
        report = {"levels": levels, "largest_n_within_target": best}
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
