"""Streaming recognition: 20 ms frames in, partials while speaking, one stable final
after the speaker stops, with stream timestamps and a confidence."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from kallglot.speech import audio
from kallglot.speech.metrics import word_error_rate
from kallglot.speech.recognizer import RecognitionEvent, Recognizer, RecognizerOptions
from tests.speech.conftest import clip, reference

pytestmark = pytest.mark.slow


async def _stream(
    recognizer: Recognizer, samples: np.ndarray, *, paced: bool = False
) -> list[RecognitionEvent]:
    """Feed frames; ``paced`` sends them at the rate a call does (20 ms apart)."""
    events: list[RecognitionEvent] = []
    for frame in audio.frames(samples):
        events.extend(await recognizer.feed(frame))
        if paced:
            await asyncio.sleep(audio.FRAME_MS / 1000)
    events.extend(await recognizer.finish())
    await recognizer.aclose()
    return events


async def test_a_spoken_phrase_streams_partials_then_a_final() -> None:
    speech = clip("en", 3)
    pause = np.zeros(16_000, dtype=np.int16)
    events = await _stream(Recognizer("en"), np.concatenate([pause, speech, pause]), paced=True)
    kinds = [e.kind for e in events]
    assert kinds[0] == "speech_started"
    finals = [e for e in events if e.kind == "final"]
    assert finals
    assert "partial" in kinds
    assert kinds.index("partial") < kinds.index("final")
    text = " ".join(e.text for e in finals)
    assert word_error_rate([reference("en", 3)], [text]) <= 0.3
    assert all(0 < e.confidence <= 1 for e in finals)
    assert finals[0].start_ms >= 700
    assert finals[-1].end_ms <= len(speech) // 16 + 2000
    starts = [e.start_ms for e in finals]
    assert starts == sorted(starts)


async def test_the_language_is_identified_when_not_given() -> None:
    recognizer = Recognizer(None, candidates=frozenset({"de", "en", "es", "fr", "pt"}))
    events = await _stream(recognizer, clip("es", 3))
    finals = [e for e in events if e.kind == "final"]
    assert recognizer.language == "es"
    assert finals
    assert finals[0].language == "es"


async def test_without_partials_only_the_final_is_decoded() -> None:
    recognizer = Recognizer("es", options=RecognizerOptions(partials=False))
    events = await _stream(recognizer, clip("es", 2), paced=False)
    kinds = {e.kind for e in events}
    assert kinds == {"speech_started", "final"}


async def test_silence_streams_no_events() -> None:
    events = await _stream(Recognizer("de"), np.zeros(16_000 * 3, dtype=np.int16))
    assert events == []


async def test_two_sessions_share_the_engine_concurrently() -> None:
    first, second = Recognizer("es"), Recognizer("pt")
    results = await asyncio.gather(_stream(first, clip("es", 2)), _stream(second, clip("pt", 0)))
    assert first.engine is second.engine
    for events, language, index in ((results[0], "es", 2), (results[1], "pt", 0)):
        text = " ".join(e.text for e in events if e.kind == "final")
        assert word_error_rate([reference(language, index)], [text]) <= 0.3
