"""Text translation: Apertium kept running per pair, Bergamot in-process, pivots from the
capability table, and a clear refusal for a pair nothing serves."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from kallglot.speech import registry
from kallglot.speech.errors import UnsupportedPairError
from kallglot.speech.translate import ApertiumTranslator, restore_casing


def test_asr_text_gets_casing_and_a_full_stop_for_apertium() -> None:
    assert restore_casing("i think i need help") == "I think I need help."
    assert restore_casing("¿Dónde está?") == "¿Dónde está?"
    assert restore_casing("   ") == ""


def test_apertium_translates_spanish_and_keeps_one_pipeline_per_pair() -> None:
    engine = ApertiumTranslator()
    try:
        first = engine.translate("necesito cambiar mi vuelo", "es", "en")
        pipe = engine._pipe("es", "en")
        second = engine.translate("El perro es grande.", "es", "en")
        assert engine._pipe("es", "en") is pipe
        assert pipe._proc.poll() is None
    finally:
        engine.close()
    assert "flight" in first.lower()
    assert "dog" in second.lower()


def test_apertium_never_speaks_its_unknown_word_marks() -> None:
    engine = ApertiumTranslator()
    try:
        out = engine.translate("El zorblaxiano es [grande] y cuesta $5.", "es", "en")
    finally:
        engine.close()
    assert "*" not in out
    assert "[big]" in out
    assert "$5" in out


def test_a_dead_apertium_pipeline_is_restarted() -> None:
    engine = ApertiumTranslator()
    try:
        engine.translate("Hola.", "es", "pt")
        pipe = engine._pipe("es", "pt")
        pipe._proc.kill()
        pipe._proc.wait()
        assert "obrigad" in engine.translate("Muchas gracias.", "es", "pt").lower()
    finally:
        engine.close()


def test_bergamot_translates_english_and_portuguese() -> None:
    to_pt = registry.translator("en", "pt")
    assert to_pt.name == "bergamot"
    assert "voo" in to_pt.translate("I need to change my flight.", "en", "pt").lower()
    back = registry.translator("pt", "en").translate("Eu preciso de ajuda.", "pt", "en")
    assert "help" in back.lower()


def test_french_to_english_text_pivots_through_spanish() -> None:
    route = registry.best_route("fr", "en", speech=False)
    assert [h.target for h in route.hops] == ["es", "en"]
    out = registry.translator("fr", "en").translate("Je voudrais un café.", "fr", "en")
    assert "coffee" in out.lower()


def test_german_speech_reaches_english_through_whisper() -> None:
    route = registry.best_route("de", "en", speech=True)
    assert route.speech_first
    assert route.hops[0].engine == "whisper-translate"


def test_an_unsupported_pair_names_what_is_missing() -> None:
    with pytest.raises(UnsupportedPairError) as caught:
        registry.translator("en", "de")
    message = caught.value.message
    assert "English (en)" in message
    assert "German (de)" in message
    assert "Apertium" in message
    assert "Bergamot" in message


def test_concurrent_sessions_share_one_translator_safely() -> None:
    engine = registry.translator("es", "pt")
    sentences = [f"Tengo {n} perros en casa." for n in range(2, 12)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda s: engine.translate(s, "es", "pt"), sentences))
    assert registry.translator("es", "pt") is engine
    for number, result in zip(range(2, 12), results, strict=True):
        assert str(number) in result
        assert "cachorro" in result.lower() or "cão" in result.lower() or "cães" in result.lower()
