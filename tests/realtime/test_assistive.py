"""Assistive mode: the agent hears the caller's own voice and reads the translation."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from kallglot.speech.asr import whisper
from kallglot.speech.metrics import word_error_rate
from tests.conftest import MigratedDatabase, sqlite_only
from tests.realtime.conftest import (
    Collected,
    LiveServer,
    collect,
    heard,
    mulaw_clip,
    new_session,
    send_mulaw,
    wait_for_audio,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@sqlite_only
async def test_the_agent_hears_the_caller_untranslated_and_reads_the_translation(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str
) -> None:
    session_id, token = new_session(
        database,
        organization_id,
        mode="assistive_translation",
        source_language="es",
        target_language="en",
    )
    url = f"{live_server.ws_url}/v1/sessions/{session_id}/connect?token={token}"
    caller_audio, said = mulaw_clip("es", 2)
    agent_events = Collected()
    async with (
        websockets.connect(f"{url}&party=caller") as caller,
        websockets.connect(f"{url}&party=agent&audio_format=pcm_s16le_16000") as agent,
    ):
        reader = asyncio.create_task(collect(agent, agent_events))
        await send_mulaw(caller, "caller", caller_audio)
        await wait_for_audio(agent_events, "agent")
        await caller.send('{"type": "session.end"}')
        await asyncio.wait_for(reader, timeout=60)

    outputs = agent_events.of("audio.output", listener="agent")
    assert outputs and {e["content"] for e in outputs} == {"original"}, "no translated speech"
    voice = heard(agent_events, "agent")
    assert voice.size >= 16000 * 5, "the agent heard (almost) nothing of the caller"
    assert word_error_rate([said], [whisper().transcribe(voice, "es").text]) <= 0.4
    finals = agent_events.of("transcript.final", speaker="customer")
    assert finals and all(f["translation"]["language"] == "en" for f in finals)
    translation = " ".join(f["translation"]["text"] for f in finals)
    assert word_error_rate([said], [translation]) > 0.5, "translation looks untranslated"
