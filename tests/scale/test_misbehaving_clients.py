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
STALL_AFTER_BYTES = 8000 * 3  # three seconds of mu-law, cut off mid-sentence
LATENCY_SLACK_MS = 1000


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


async def _flood_then_stall(ws: Any, events: Collected, flood: bytes, stall: bytes) -> None:
    for sequence, offset in enumerate(range(0, len(flood), 160)):
        await ws.send(_frame(sequence, flood[offset : offset + 160]))
    await _quiet(events, seconds=3.0, within=120)
    before = len(events.of("transcript.final"))
    await send_mulaw_from(ws, stall, len(flood) // 160 + 1)
    # ... and nothing more: the client hangs mid-sentence with its socket open. The
    # sentence is closed by the silence that never came, and transcribed, without
    # waiting for the idle timeout or the socket to close.
    await _until(lambda: len(events.of("transcript.final")) > before, within=20)


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
    stall = mulaw_clip("de", 2)[0][:STALL_AFTER_BYTES]
    bad_events = Collected()
    async with await _connect(live_server, database, organization_id) as bad:
        bad_reader = asyncio.create_task(collect(bad, bad_events))
        misbehaving = asyncio.create_task(_flood_then_stall(bad, bad_events, flood, stall))
        beside = await _good_call(live_server, database, organization_id, good_audio)
        await asyncio.wait_for(misbehaving, timeout=180)
        await bad.send('{"type": "session.end"}')
        await asyncio.wait_for(bad_reader, timeout=60)

    too_fast = [e for e in bad_events.of("session.error") if e["code"] == "audio_too_fast"]
    assert too_fast, "the flood was not pushed back"
    assert len(too_fast) <= 5  # reported at most once a second, not per dropped frame
    assert _texts(beside) == _texts(alone)
    assert _worst_latency(beside) <= _worst_latency(alone) + LATENCY_SLACK_MS, (
        _worst_latency(alone),
        _worst_latency(beside),
    )
