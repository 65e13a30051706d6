"""One process, two calls: one client floods audio faster than real time and then
stalls mid-sentence; the other call's finals and latency do not change. Real models,
a real server, real WebSockets."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
import websockets

from kallglot.speech.metrics import word_error_rate
from tests.conftest import MigratedDatabase, sqlite_only
from tests.realtime.conftest import (
    Collected,
    LiveServer,
    collect,
    mulaw_clip,
    new_session,
    send_mulaw,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# The misbehaving client's flood: a minute of speech, sent as fast as the socket takes it.
FLOOD_CLIPS = (0, 1, 2, 3, 4)
STALL_AFTER_MS = 4500  # fleurs-de-002 cut off mid-word (speech runs from 1.2 s to 5.5 s)
LATENCY_SLACK_MS = 1000
# Whisper's finals of the same audio differ slightly from run to run (punctuation, a word).
SAME_FINALS_WER = 0.15


async def _connect(server: LiveServer, database: MigratedDatabase, organization_id: str) -> Any:
    session_id, token = new_session(
        database, organization_id, mode="transcription", source_language="en"
    )
    url = f"{server.ws_url}/v1/sessions/{session_id}/connect?token={token}&party=caller"
    return websockets.connect(url, max_queue=None)


async def _until(condition: Any, within: float) -> None:
    async with asyncio.timeout(within):
        while True:
            if condition():
                return
            await asyncio.sleep(0.2)


async def _quiet(events: Collected, seconds: float, within: float) -> None:
    """Until no new final has arrived for ``seconds``."""
    async with asyncio.timeout(within):
        seen, still = -1, 0.0
        while still < seconds:
            count = len(events.of("transcript.final"))
            still = still + 0.2 if count == seen else 0.0
            seen = count
            await asyncio.sleep(0.2)


async def _good_call(
    server: LiveServer, database: MigratedDatabase, organization_id: str, audio: bytes
) -> Collected:
    """A well-behaved caller at real time; returns what it was told."""
    events = Collected()
    async with await _connect(server, database, organization_id) as ws:
        reader = asyncio.create_task(collect(ws, events))
        await send_mulaw(ws, "caller", audio)
        await _until(lambda: events.of("latency"), within=60)
        await asyncio.sleep(2.0)  # any later final would arrive now
        await ws.send('{"type": "session.end"}')
        await asyncio.wait_for(reader, timeout=60)
    return events


async def _flood(ws: Any, flood: bytes) -> None:
    for sequence, offset in enumerate(range(0, len(flood), 160)):
        await ws.send(_frame(sequence, flood[offset : offset + 160]))


async def _stall(ws: Any, events: Collected, stall: bytes) -> dict[str, Any]:
    """Speak at real time, stop mid-word with the socket open, and wait for the final."""
    await send_mulaw_from(ws, stall, 0)
    # Nothing more arrives. The sentence is closed by the silence that never came and
    # transcribed, without waiting for the idle timeout or the socket to close.
    await _until(
        lambda: [f for f in events.of("transcript.final") if f["end_ms"] >= STALL_AFTER_MS - 300],
        within=20,
    )
    return events.of("transcript.final")[-1]


async def send_mulaw_from(ws: Any, audio: bytes, first_sequence: int) -> None:
    for index, offset in enumerate(range(0, len(audio), 160)):
        await ws.send(_frame(first_sequence + index, audio[offset : offset + 160]))
        await asyncio.sleep(0.02)


def _frame(sequence: int, payload: bytes) -> str:
    return json.dumps(
        {
            "type": "audio.input",
            "speaker": "caller",
            "sequence": sequence,
            "timestamp_ms": sequence * 20,
            "audio": {
                "encoding": "mulaw",
                "sample_rate_hz": 8000,
                "payload": base64.b64encode(payload).decode(),
            },
        }
    )


def _texts(events: Collected) -> list[str]:
    return [final["text"] for final in events.of("transcript.final")]


def _worst_latency(events: Collected) -> int:
    return max(item["asr_final_ms"] for item in events.of("latency"))


@sqlite_only
async def test_a_flooding_then_stalling_client_does_not_slow_another_call(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str
) -> None:
    good_audio, _ = mulaw_clip("en", 0)
    alone = await _good_call(live_server, database, organization_id, good_audio)
    assert _texts(alone), "the well-behaved call alone produced no final"

    flood = b"".join(mulaw_clip("es", index, tail_silence_ms=300)[0] for index in FLOOD_CLIPS)
    stall = mulaw_clip("de", 2, tail_silence_ms=0)[0][: 8 * STALL_AFTER_MS]
    flood_events, stall_events = Collected(), Collected()
    async with (
        await _connect(live_server, database, organization_id) as flooding,
        await _connect(live_server, database, organization_id) as stalling,
    ):
        readers = [
            asyncio.create_task(collect(flooding, flood_events)),
            asyncio.create_task(collect(stalling, stall_events)),
        ]
        misbehaving = asyncio.gather(_flood(flooding, flood), _stall(stalling, stall_events, stall))
        beside = await _good_call(live_server, database, organization_id, good_audio)
        await asyncio.wait_for(misbehaving, timeout=120)
        for ws in (flooding, stalling):
            await ws.send('{"type": "session.end"}')
        await asyncio.wait_for(asyncio.gather(*readers), timeout=60)

    too_fast = [e for e in flood_events.of("session.error") if e["code"] == "audio_too_fast"]
    assert too_fast, "the flood was not pushed back"
    assert len(too_fast) <= 5  # reported at most once a second, not per dropped frame
    assert word_error_rate([" ".join(_texts(alone))], [" ".join(_texts(beside))]) <= SAME_FINALS_WER
    assert _worst_latency(beside) <= _worst_latency(alone) + LATENCY_SLACK_MS, (
        _worst_latency(alone),
        _worst_latency(beside),
    )
