"""The async entry points the real-time pipeline calls."""

from __future__ import annotations

import asyncio

import pytest

from kallglot.speech import service
from kallglot.speech.errors import UnsupportedPairError
from kallglot.speech.metrics import word_error_rate
from tests.speech.conftest import clip, reference

pytestmark = pytest.mark.slow


async def test_phrases_translate_concurrently_off_the_event_loop() -> None:
    results = await asyncio.gather(
        service.translate_text("Necesito ayuda con mi cuenta.", "es", "en"),
        service.translate_text("Preciso de ajuda com a minha conta.", "pt", "en"),
        service.translate_text("I need help with my account.", "en", "pt"),
    )
    assert "help" in results[0].lower()
    assert "help" in results[1].lower()
    assert "ajuda" in results[2].lower()


async def test_an_unsupported_pair_fails_the_await_with_its_reason() -> None:
    with pytest.raises(UnsupportedPairError, match="German"):
        await service.translate_text("Hello.", "en", "de")


async def test_an_utterance_transcribes_asynchronously() -> None:
    result = await service.transcribe(clip("es", 3), "es")
    assert word_error_rate([reference("es", 3)], [result.text]) <= 0.2


def test_warm_up_loads_what_a_node_needs() -> None:
    service.warm_up(["en", "es"], [("es", "en"), ("en", "es")])
