"""Two-party translated calls against a running server, in real time.

Plays a FLEURS clip as the caller and another as the agent over the session
WebSocket (20 ms mu-law frames, paced at real time), and prints per direction:
median and p95 end of speech → first translated audio (and → ASR final), the word error rate of
the final transcripts, the real-time factor, and the server's peak memory.

    python bench/call.py --base-url http://127.0.0.1:8000 [--concurrent N] [--pair es-en] [--json]

Credentials: ``--api-key``, else ``$KALLGLOT_API_KEY``, else the demo organization's key
that ``kallglot demo seed`` writes to ``var/demo-credentials.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

from kallglot.speech import g711
from kallglot.speech.audio import decode_file, resample
from kallglot.speech.metrics import word_error_rate

ROOT = Path(__file__).resolve().parents[1]
FLEURS = Path(os.environ.get("KALLGLOT_FLEURS_DIR", ROOT / "tests/data/speech/fleurs"))
FRAME_MS = 20
TAIL_SILENCE_MS = 1500


@dataclass
class Direction:
    speaker: str
    language: str
    reference: str
    finals: list[str] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    asr_final_s: list[float] = field(default_factory=list)


@dataclass
class CallResult:
    directions: dict[str, Direction]
    audio_seconds: float
    wall_seconds: float
    errors: list[str]
    late_frames: int = 0


def api_key(explicit: str | None) -> str:
    if explicit:
        return explicit
    if os.environ.get("KALLGLOT_API_KEY"):
        return os.environ["KALLGLOT_API_KEY"]
    credentials = ROOT / "var" / "demo-credentials.json"
    if credentials.exists():
        return str(json.loads(credentials.read_text())["api_key"])
    sys.exit("no API key: pass --api-key, set KALLGLOT_API_KEY, or run `kallglot demo seed`")


def clip(language: str, index: int) -> tuple[bytes, str, float]:
    """The clip as 8 kHz mu-law with trailing silence, its reference, its length in s."""
    path = FLEURS / f"fleurs-{language}-{index:03d}.ogg"
    samples = decode_file(path)
    narrow = resample(samples, 16000, 8000)
    silence = bytes([0xFF]) * (8 * TAIL_SILENCE_MS)  # mu-law silence
    reference = path.with_suffix(".txt").read_text().strip()
    return g711.mulaw_encode(narrow) + silence, reference, narrow.size / 8000


async def stream_audio(ws: Any, speaker: str, mulaw: bytes) -> int:
    """Send in real time; returns how many frames went out more than one frame late."""
    frame_bytes = 8 * FRAME_MS
    start = time.monotonic()
    late = 0
    for sequence, offset in enumerate(range(0, len(mulaw), frame_bytes)):
        payload = base64.b64encode(mulaw[offset : offset + frame_bytes]).decode()
        await ws.send(
            json.dumps(
                {
                    "type": "audio.input",
                    "speaker": speaker,
                    "sequence": sequence,
                    "timestamp_ms": sequence * FRAME_MS,
                    "audio": {"encoding": "mulaw", "sample_rate_hz": 8000, "payload": payload},
                }
            )
        )
        delay = start + (sequence + 1) * FRAME_MS / 1000 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -FRAME_MS / 1000:
            late += 1
    return late


async def listen(ws: Any, directions: dict[str, Direction], errors: list[str]) -> None:
    async for raw in ws:
        message = json.loads(raw)
        kind = message["type"]
        if kind == "transcript.final":
            directions[message["speaker"]].finals.append(message["text"])
        elif kind == "latency" and message.get("first_audio_ms") is not None:
            direction = directions[message["speaker"]]
            direction.latencies_s.append(message["first_audio_ms"] / 1000)
            direction.asr_final_s.append(message["asr_final_ms"] / 1000)
        elif kind == "session.error":
            errors.append(message["code"])
        elif kind == "session.ended":
            return


async def one_call(base_url: str, key: str, pair: tuple[str, str], index: int) -> CallResult:
    caller_language, agent_language = pair
    caller_audio, caller_ref, caller_s = clip(caller_language, index)
    agent_audio, agent_ref, agent_s = clip(agent_language, index)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/v1/sessions",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "mode": "bidirectional_translation",
                "source_language": caller_language,
                "target_language": agent_language,
                "metadata": {"bench": "call.py"},
            },
        )
        response.raise_for_status()
        created = response.json()
    url = f"{created['stream']['url']}?token={created['stream']['token']}"
    directions = {
        "caller": Direction("caller", caller_language, caller_ref),
        "agent": Direction("agent", agent_language, agent_ref),
    }
    errors: list[str] = []
    started = time.monotonic()
    async with (
        websockets.connect(url + "&party=caller", max_size=None) as caller,
        websockets.connect(url + "&party=agent", max_size=None) as agent,
    ):
        listener = asyncio.create_task(listen(caller, directions, errors))
        drain = asyncio.create_task(agent.wait_closed())
        late = await stream_audio(caller, "caller", caller_audio)
        late += await stream_audio(agent, "agent", agent_audio)
        await asyncio.sleep(3)  # let the last translation play out
        await caller.send(json.dumps({"type": "session.end"}))
        await asyncio.wait_for(listener, timeout=60)
        drain.cancel()
    wall = time.monotonic() - started
    return CallResult(directions, caller_s + agent_s, wall, errors, late)


def server_pid(base_url: str) -> int | None:
    """The process listening at ``base_url`` on this machine, if it can be seen."""
    port = httpx.URL(base_url).port or 80
    for connection in psutil.net_connections("tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
            return connection.pid
    return None


def server_peak_memory_mb(base_url: str) -> float | None:
    pid = server_pid(base_url)
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summarise(results: list[CallResult], base_url: str) -> dict[str, Any]:
    per_direction: dict[str, Any] = {}
    all_latencies: list[float] = []
    references: list[str] = []
    hypotheses: list[str] = []
    for speaker in ("caller", "agent"):
        latencies = [s for r in results for s in r.directions[speaker].latencies_s]
        asr_finals = [s for r in results for s in r.directions[speaker].asr_final_s]
        refs = [r.directions[speaker].reference for r in results]
        hyps = [" ".join(r.directions[speaker].finals) for r in results]
        per_direction[speaker] = {
            "language": results[0].directions[speaker].language,
            "utterances": len(latencies),
            "latency_s": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95)},
            "asr_final_s": {"p50": percentile(asr_finals, 50), "p95": percentile(asr_finals, 95)},
            "wer": round(word_error_rate(refs, hyps), 3),
        }
        all_latencies += latencies
        references += refs
        hypotheses += hyps
    audio = sum(r.audio_seconds for r in results)
    return {
        "calls": len(results),
        "latency_s": {"p50": percentile(all_latencies, 50), "p95": percentile(all_latencies, 95)},
        "wer": round(word_error_rate(references, hypotheses), 3),
        "rtf": round(max(r.wall_seconds for r in results) / (audio / len(results)), 3),
        "directions": per_direction,
        "errors": sorted({e for r in results for e in r.errors}),
        "server_peak_memory_mb": server_peak_memory_mb(base_url),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--concurrent", type=int, default=1)
    parser.add_argument("--pair", default="es-en", help="caller-agent languages, e.g. pt-en")
    parser.add_argument("--clip", type=int, default=4, help="FLEURS clip index 0-4")
    parser.add_argument("--api-key")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    pair = tuple(args.pair.split("-", 1))
    assert len(pair) == 2, "--pair is two language codes, like es-en"
    key = api_key(args.api_key)
    results = await asyncio.gather(
        *(one_call(args.base_url, key, pair, args.clip) for _ in range(args.concurrent))
    )
    summary = summarise(list(results), args.base_url)
    print(f"{summary['calls']} call(s), pair {args.pair}, clip {args.clip}")
    print(
        f"{'direction':<10} {'lang':<5} {'utts':>4} {'p50 s':>7} {'p95 s':>7}"
        f" {'asr p50':>7} {'asr p95':>7} {'WER':>6}"
    )
    for speaker, figures in summary["directions"].items():
        lat, asr = figures["latency_s"], figures["asr_final_s"]
        print(
            f"{speaker:<10} {figures['language']:<5} {figures['utterances']:>4} "
            f"{_fmt(lat['p50'])} {_fmt(lat['p95'])} {_fmt(asr['p50'])} {_fmt(asr['p95'])}"
            f" {figures['wer']:>6.3f}"
        )
    overall = summary["latency_s"]
    print(
        f"all: p50 {_fmt(overall['p50'])} s, p95 {_fmt(overall['p95'])} s,"
        f" WER {summary['wer']:.3f}, RTF {summary['rtf']:.2f},"
        f" server peak memory {_fmt(summary['server_peak_memory_mb']).strip()} MB,"
        f" errors {summary['errors']}"
    )
    if args.json:
        print(json.dumps(summary))


def _fmt(value: float | None) -> str:
    return f"{value:>7.2f}" if value is not None else "      -"


if __name__ == "__main__":
    asyncio.run(main())
