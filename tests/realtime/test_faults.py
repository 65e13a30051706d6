"""A fault while translating one utterance costs that utterance, not the call."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from kallglot.speech import service as speech_service
from tests.conftest import MigratedDatabase, sqlite_only
from tests.realtime.conftest import (
    Collected,
    LiveServer,
    collect,
    mulaw_clips,
    new_session,
    send_mulaw,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@sqlite_only
async def test_an_unexpected_fault_is_reported_and_the_next_utterance_is_translated(
    live_server: LiveServer,
    database: MigratedDatabase,
    organization_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_translate = speech_service.translate_text
    calls: list[str] = []

    async def fails_once(text: str, source: str, target: str) -> str:
        calls.append(text)
        if len(calls) == 1:
            raise RuntimeError("a bug in a translator")
        return await real_translate(text, source, target)

    monkeypatch.setattr(speech_service, "translate_text", fails_once)
    session_id, token = new_session(
        database,
        organization_id,
        mode="bidirectional_translation",
        source_language="es",
        target_language="en",
    )
    url = f"{live_server.ws_url}/v1/sessions/{session_id}/connect?token={token}"
    spanish, _ = mulaw_clips("es", (3, 4))
    events = Collected()
    async with websockets.connect(f"{url}&party=caller") as caller:
        reader = asyncio.create_task(collect(caller, events))
        await send_mulaw(caller, "caller", spanish, speed=4.0)
        for _ in range(600):
            if any(e["translation"] for e in events.of("transcript.final")):
                break
            await asyncio.sleep(0.1)
        await caller.send(json.dumps({"type": "session.end"}))
        await asyncio.wait_for(reader, 60)
    assert [e["code"] for e in events.of("session.error")] == ["internal_error"]
    translated = [e for e in events.of("transcript.final") if e["translation"]]
    assert translated, "the call stopped translating after the fault"
    assert translated[0]["translation"]["language"] == "en"
    assert events.of("session.ended")
