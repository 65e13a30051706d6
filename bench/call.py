"""Two-party translated calls against a running server, in real time.

Plays a FLEURS clip as the caller and another as the agent over the session
WebSocket (20 ms mu-law frames, paced at real time), and prints per direction:
median and p95 end of speech → first translated audio (and → ASR final), the word error rate of
the final transcripts, the real-time factor, and the server's peak memory.

Beside the server's own figure it measures latency at the client: from the moment the last
voiced frame of the clip was due to have been heard (the clip's end before its tail silence,
on the sender's real-time schedule) to the arrival of the first translated audio of the
clip's last utterance at the listener's WebSocket. The server's figure for that same
utterance is printed next to it.

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
import numpy as np
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
    # utterance id → (end_ms of the final, server's first_audio_ms in s)
    utterances: dict[str, int] = field(default_factory=dict)
    server_first_audio_s: dict[str, float] = field(default_factory=dict)
    # utterance id → when its first translated audio reached the listener (monotonic)
    first_heard_at: dict[str, float] = field(default_factory=dict)
    voice_ended_at: float | None = None

    def client_and_server_latency(self) -> tuple[float, float] | None:
        """End of the clip's voice → first translated audio of its last utterance, at the
        client and as the server reported it."""
        if not self.utterances or self.voice_ended_at is None:
            return None
        last = max(self.utterances, key=lambda utterance: self.utterances[utterance])
        heard, server = self.first_heard_at.get(last), self.server_first_audio_s.get(last)
        if heard is None or server is None:
            return None
        return heard - self.voice_ended_at, server


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
    """The clip as 8 kHz mu-law with trailing silence, its reference, where its voice ends
    (s)."""
    path = FLEURS / f"fleurs-{language}-{index:03d}.ogg"
    samples = decode_file(path)
    narrow = resample(samples, 16000, 8000)
    silence = bytes([0xFF]) * (8 * TAIL_SILENCE_MS)  # mu-law silence
    reference = path.with_suffix(".txt").read_text().strip()
    return g711.mulaw_encode(narrow) + silence, reference, voiced_seconds(narrow)


def voiced_seconds(samples: Any) -> float:
    """Where the voice in the clip ends: its last sample within 30 dB of the peak (FLEURS
    clips carry some quiet of their own after the last word)."""
    level = np.abs(samples.astype(np.int32))
    loud = np.flatnonzero(level >= level.max() * 10 ** (-30 / 20))
    return float(loud[-1] + 1) / 8000 if loud.size else samples.size / 8000


async def stream_audio(ws: Any, speaker: str, mulaw: bytes, voiced_s: float) -> tuple[int, float]:
    """Send in real time; returns how many frames went out more than one frame late, and
    when the clip's voice ended on the real-time schedule (monotonic)."""
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
    return late, start + voiced_s


async def listen(ws: Any, directions: dict[str, Direction], errors: list[str]) -> None:
    """Every event of the call (this socket gets them all, and the caller's audio)."""
    async for raw in ws:
        arrived = time.monotonic()
        message = json.loads(raw)
        kind = message["type"]
        if kind == "transcript.final":
            direction = directions[message["speaker"]]
            direction.finals.append(message["text"])
            direction.utterances[message["utterance_id"]] = message["end_ms"]
        elif kind == "latency" and message.get("first_audio_ms") is not None:
            direction = directions[message["speaker"]]
            direction.latencies_s.append(message["first_audio_ms"] / 1000)
            direction.asr_final_s.append(message["asr_final_ms"] / 1000)
            direction.server_first_audio_s[message["utterance_id"]] = (
                message["first_audio_ms"] / 1000
            )
        elif kind == "audio.output":
            heard(directions, message, arrived)
        elif kind == "session.error":
            errors.append(message["code"])
        elif kind == "session.ended":
            return


def heard(directions: dict[str, Direction], message: dict[str, Any], arrived: float) -> None:
    if message.get("content") == "translation" and message.get("utterance_id"):
        speaker = directions[message["speaker"]]
        speaker.first_heard_at.setdefault(message["utterance_id"], arrived)


async def listen_audio(ws: Any, directions: dict[str, Direction]) -> None:
    """The agent's socket: only the translated audio it receives counts here."""
    async for raw in ws:
        arrived = time.monotonic()
        message = json.loads(raw)
        if message["type"] == "audio.output":
            heard(directions, message, arrived)
        elif message["type"] == "session.ended":
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
        drain = asyncio.create_task(listen_audio(agent, directions))
        late, directions["caller"].voice_ended_at = await stream_audio(
            caller, "caller", caller_audio, caller_s
        )
        late_agent, directions["agent"].voice_ended_at = await stream_audio(
            agent, "agent", agent_audio, agent_s
        )
        late += late_agent
        await asyncio.sleep(3)  # let the last translation play out
        await caller.send(json.dumps({"type": "session.end"}))
        await asyncio.wait_for(listener, timeout=60)
        drain.cancel()
    wall = time.monotonic() - started
    audio_s = (len(caller_audio) + len(agent_audio)) / 8000 - 2 * TAIL_SILENCE_MS / 1000
    return CallResult(directions, audio_s, wall, errors, late)


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
        pairs = [p for r in results if (p := r.directions[speaker].client_and_server_latency())]
        refs = [r.directions[speaker].reference for r in results]
        hyps = [" ".join(r.directions[speaker].finals) for r in results]
        per_direction[speaker] = {
            "language": results[0].directions[speaker].language,
            "utterances": len(latencies),
            "latency_s": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95)},
            "asr_final_s": {"p50": percentile(asr_finals, 50), "p95": percentile(asr_finals, 95)},
            "wer": round(word_error_rate(refs, hyps), 3),
            # The clip's last utterance: at the client, and as the server reported it.
            "client_latency_s": {
                "p50": percentile([c for c, _ in pairs], 50),
                "p95": percentile([c for c, _ in pairs], 95),
            },
            "server_latency_same_utterance_s": {
                "p50": percentile([s for _, s in pairs], 50),
                "p95": percentile([s for _, s in pairs], 95),
            },
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
    print(f"{'direction':<10} {'client p50':>10} {'server p50':>10}  (the clip's last utterance)")
    for speaker, figures in summary["directions"].items():
        client, server = figures["client_latency_s"], figures["server_latency_same_utterance_s"]
        print(f"{speaker:<10} {_fmt(client['p50']):>10} {_fmt(server['p50']):>10}")
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
