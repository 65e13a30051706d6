"""Barge-in: the agent talks over the caller's translation; that playback stops for good."""

from __future__ import annotations

import asyncio

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
from tests.support.waiting import until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@sqlite_only
async def test_agent_speech_stops_the_translation_playing_to_them(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str
) -> None:
    session_id, token = new_session(
        database,
        organization_id,
        mode="bidirectional_translation",
        source_language="es",
        target_language="en",
    )
    url = f"{live_server.ws_url}/v1/sessions/{session_id}/connect?token={token}"
    long_spanish, _ = mulaw_clip("es", 1)
    english, _ = mulaw_clip("en", 3)
    agent_events = Collected()
    async with (
        websockets.connect(f"{url}&party=caller") as caller,
        websockets.connect(f"{url}&party=agent") as agent,
    ):
        reader = asyncio.create_task(collect(agent, agent_events))
        await send_mulaw(caller, "caller", long_spanish, speed=4.0)
        await until(
            lambda: agent_events.of("audio.output", listener="agent"),
            "no translation reached the agent",
            within=120,
        )
        await send_mulaw(agent, "agent", english)
        await until(
            lambda: agent_events.of("audio.clear", listener="agent"),
            "barge-in did not clear the agent's playback",
            within=120,
        )
        # Ending the session first finishes whatever was still in the pipeline, so any
        # stale audio would be delivered before session.ended.
        await caller.send('{"type": "session.end"}')
        await asyncio.wait_for(reader, timeout=120)

    events = agent_events.events
    clears = [i for i, e in enumerate(events) if e["type"] == "audio.clear"]
    assert clears, "barge-in did not clear the agent's playback"
    cleared_at = clears[0]
    interrupted = {
        e["utterance_id"]
        for e in events[:cleared_at]
        if e["type"] == "transcript.final" and e["speaker"] == "customer"
    }
    played_before = [
        e for e in events[:cleared_at] if e["type"] == "audio.output" and e["listener"] == "agent"
    ]
    stale_after = [
        e
        for e in events[cleared_at:]
        if e["type"] == "audio.output" and e["utterance_id"] in interrupted
    ]
    assert played_before, "nothing was playing when the agent spoke"
    assert stale_after == []
    assert agent_events.of("speech.started", speaker="agent")
