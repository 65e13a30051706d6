"""The async entry points the real-time pipeline calls."""

from __future__ import annotations

import asyncio

import pytest

from kallglot.speech import asr, registry, service
from kallglot.speech.errors import UnsupportedPairError
from kallglot.speech.metrics import word_error_rate
from kallglot.speech.translate import PivotTranslator
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
    registry.close_all(forget=True)  # nothing shared is loaded ...
    assert not registry._instances
    service.warm_up(["en", "es"], [("es", "en"), ("en", "es")])
    loaded = dict(registry._instances)  # ... until the warm-up loads it
    assert asr._whisper is not None
    # What a call then asks for is what the warm-up loaded, not loaded again on first use.
    translators = [registry.translator("es", "en"), registry.translator("en", "es")]
    engines = [registry.synthesizer("en"), registry.synthesizer("es")] + [
        hop
        for t in translators
        for hop, _, _ in (t.hops if isinstance(t, PivotTranslator) else [(t, "", "")])
    ]
    for engine in engines:
        assert any(engine is shared for shared in loaded.values()), engine
    assert registry._instances == loaded
