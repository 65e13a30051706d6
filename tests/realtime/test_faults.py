"""A fault while recognising or translating one utterance costs that utterance, not the
call."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest
import websockets

from kallglot.speech import service as speech_service
from kallglot.speech.asr import Transcript, Utterance, WhisperEngine
from tests.conftest import MigratedDatabase, sqlite_only
from tests.realtime.conftest import (
    Collected,
    LiveServer,
    collect,
    mulaw_clips,
    new_session,
    send_mulaw,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600), sqlite_only]


async def spanish_caller_until_translated(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str
) -> Collected:
    """Two Spanish utterances from the caller; the events until one comes back translated."""
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
    assert events.of("session.ended")
    return events


def translated(events: Collected) -> list[dict[str, object]]:
    return [e for e in events.of("transcript.final") if e["translation"]]


async def test_a_fault_in_translation_is_reported_and_the_next_utterance_is_translated(
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
    events = await spanish_caller_until_translated(live_server, database, organization_id)
    assert [e["code"] for e in events.of("session.error")] == ["internal_error"]
    assert translated(events), "the call stopped translating after the fault"
    assert len(calls) >= 2


async def test_a_fault_in_recognition_is_reported_and_the_next_utterance_is_recognised(
    live_server: LiveServer,
    database: MigratedDatabase,
    organization_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_batch = WhisperEngine.transcribe_batch
    broken_lengths: list[int] = []

    def first_final_fails(
        engine: WhisperEngine, utterances: Sequence[Utterance], *, beam_size: int = 0
    ) -> list[Transcript]:
        if beam_size != 1 and not broken_lengths:  # the first final (partials are greedy)
            broken_lengths.append(len(utterances[0].samples))
        if any(len(u.samples) in broken_lengths for u in utterances):
            raise RuntimeError("a bug in a recogniser")  # and again when retried alone
        return real_batch(engine, utterances, beam_size=beam_size)

    monkeypatch.setattr(WhisperEngine, "transcribe_batch", first_final_fails)
    events = await spanish_caller_until_translated(live_server, database, organization_id)
    assert [e["code"] for e in events.of("session.error")] == ["internal_error"]
    assert "recognised" in events.of("session.error")[0]["message"]
    finals = events.of("transcript.final")
    assert finals and translated(events), "the caller was not recognised after the fault"
    assert finals[0]["start_ms"] > 0  # the first utterance was the one lost
