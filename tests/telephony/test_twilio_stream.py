"""The Twilio Media Streams endpoint against bad peers and against streamdouble, an
independent Media Streams simulator, on a real server with the real speech engines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import wave
from pathlib import Path

import pytest
import websockets
from streamdouble.api import run_scenario
from streamdouble.scenario import parse
from streamdouble.session import SessionConfig
from websockets.exceptions import ConnectionClosed

from kallglot.speech.audio import decode_file, resample
from tests.conftest import FLEURS_DIR, MigratedDatabase, sqlite_only
from tests.realtime.conftest import (
    Collected,
    LiveServer,
    collect,
    mulaw_clip,
    new_session,
    send_mulaw,
)
from tests.telephony.streams import closed_with, settled
from tests.telephony.twilio_helpers import start_event

pytestmark = [sqlite_only, pytest.mark.timeout(300)]


async def test_garbage_closes_the_stream_and_ends_its_call(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str
) -> None:
    session_id, token = new_session(database, organization_id, mode="transcription")
    url = f"{live_server.ws_url}/v1/telephony/twilio/media/{session_id}"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(start_event(token))
        await ws.send("this is not JSON {")
        assert await closed_with(ws) == 1007
    assert await settled(live_server, session_id, database) == "ended"


async def test_a_stream_that_stops_sending_is_closed_and_its_call_ended(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str
) -> None:
    session_id, token = new_session(database, organization_id, mode="transcription")
    url = f"{live_server.ws_url}/v1/telephony/twilio/media/{session_id}"
    async with websockets.connect(url) as ws:
        await ws.send(start_event(token))
        assert await closed_with(ws) == 1000  # after telephony_media_idle_seconds of nothing
    assert await settled(live_server, session_id, database) == "ended"


async def test_a_wrong_token_is_refused_and_the_session_untouched(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str
) -> None:
    session_id, token = new_session(database, organization_id, mode="transcription")
    url = f"{live_server.ws_url}/v1/telephony/twilio/media/{session_id}"
    async with websockets.connect(url) as ws:
        await ws.send(start_event(token + "x"))
        assert await closed_with(ws) == 4401
    assert await settled(live_server, session_id, database) == "created"


def wav_8k(path: Path, source: Path, seconds: float | None = None) -> Path:
    samples = resample(decode_file(source), 16000, 8000)
    if seconds is not None:
        samples = samples[: int(seconds * 8000)]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples.tobytes())
    return path


@pytest.mark.slow
async def test_streamdouble_caller_hears_the_agent_translated_and_barge_in_clears(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str, tmp_path: Path
) -> None:
    session_id, token = new_session(
        database,
        organization_id,
        mode="bidirectional_translation",
        source_language="es",
        target_language="en",
    )
    caller_clip = wav_8k(tmp_path / "caller.wav", FLEURS_DIR / "fleurs-es-000.ogg", seconds=4)
    english, _ = mulaw_clip("en", 1)  # a long turn: its translation plays for many seconds
    scenario = parse(
        {
            "name": "the agent greets, the caller talks over the translation",
            "steps": [
                {"dtmf": "5"},
                {"wait_for": {"event": "audio", "timeout": 120}},
                {"expect": "audio"},
                {"say": str(caller_clip)},
                {"expect": "clear"},
                {"wait": 2.0},
            ],
        }
    )
    agent_events = Collected()
    agent_url = f"{live_server.ws_url}/v1/sessions/{session_id}/connect?token={token}&party=agent"
    async with websockets.connect(agent_url) as agent:
        reader = asyncio.create_task(collect(agent, agent_events))
        caller = asyncio.create_task(
            run_scenario(
                f"{live_server.ws_url}/v1/telephony/twilio/media/{session_id}",
                scenario,
                config=SessionConfig(
                    custom_parameters={"token": token},
                    response_timeout_s=120,
                    max_call_s=240,
                ),
            )
        )
        await asyncio.sleep(1)
        speaking = send_mulaw(agent, "agent", english, speed=4.0)
        with contextlib.suppress(ConnectionClosed):  # the caller hangs up first: call over
            await speaking
        report = await asyncio.wait_for(caller, timeout=260)
        await asyncio.wait_for(reader, timeout=60)

    result = report.result
    assert result.violations == []
    assert result.failed_expectations == []
    assert result.audio_duration_s > 1.0  # the agent's words, translated, reached the phone
    assert result.clears_received >= 1
    assert result.marks_received and set(result.marks_echoed) <= set(result.marks_received)
    assert agent_events.of("dtmf", speaker="customer", digit="5")
    assert agent_events.of("speech.started", speaker="customer")  # the phone's audio got in
    assert await settled(live_server, session_id, database) == "ended"  # the caller hung up
