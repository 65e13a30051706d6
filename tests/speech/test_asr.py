"""Whisper base on the shared FLEURS clips, under WER bounds set from bench/speech.py.

The benchmark measured, over all five clips a language (clean, beam 3): de 0.17, en 0.09,
es 0.08, fr 0.31, pt 0.22. Two clips a language here; the bound leaves room for the
spread between clips, not for a regression.
"""

from __future__ import annotations

import numpy as np
import pytest

from kallglot.speech import audio, registry
from kallglot.speech.asr import Utterance
from kallglot.speech.errors import UnsupportedLanguageError
from kallglot.speech.langid import identify_language
from kallglot.speech.metrics import word_error_rate
from tests.speech.conftest import LANGUAGES, clip, reference, tone

pytestmark = pytest.mark.slow

WER_BOUND = {"de": 0.30, "en": 0.20, "es": 0.20, "fr": 0.45, "pt": 0.35}
CLIPS = (0, 1)


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_transcribes_under_its_wer_bound(language: str) -> None:
    engine = registry.speech_to_text(language)
    hypotheses = [engine.transcribe(clip(language, i), language).text for i in CLIPS]
    references = [reference(language, i) for i in CLIPS]
    assert word_error_rate(references, hypotheses) <= WER_BOUND[language]


def test_a_batch_of_utterances_in_several_languages_reads_like_each_alone() -> None:
    """Callers who stop together are decoded in one batch: each utterance keeps its own
    language, length bound and text (the shorter ones padded with silence)."""
    engine = registry.speech_to_text("es")
    batch = [
        Utterance(clip("es", 0), "es"),
        Utterance(clip("en", 3), "en"),
        Utterance(np.zeros(16_000, dtype=np.int16), "en"),
        Utterance(clip("pt", 1), "pt"),
    ]
    together = engine.transcribe_batch(batch)
    assert [t.language for t in together] == ["es", "en", "en", "pt"]
    assert word_error_rate([reference("es", 0)], [together[0].text]) <= WER_BOUND["es"]
    assert word_error_rate([reference("en", 3)], [together[1].text]) <= WER_BOUND["en"]
    assert together[2].text == ""
    assert word_error_rate([reference("pt", 1)], [together[3].text]) <= WER_BOUND["pt"]


def test_telephone_band_speech_is_still_recognised() -> None:
    engine = registry.speech_to_text("es")
    heard = engine.transcribe(audio.telephone_band(clip("es", 0)), "es")
    assert word_error_rate([reference("es", 0)], [heard.text]) <= 0.25
    assert 0 < heard.confidence <= 1


def test_silence_tone_and_tiny_input_give_empty_text() -> None:
    engine = registry.speech_to_text("en")
    assert engine.transcribe(np.zeros(16_000 * 3, dtype=np.int16), "en").text == ""
    assert engine.transcribe(np.zeros(10, dtype=np.int16), "en").text == ""
    assert engine.transcribe(np.zeros(0, dtype=np.int16), "en").text == ""
    engine.transcribe(tone(2.0), "en")  # any text or none, but no failure


def test_an_unknown_language_is_refused_by_name() -> None:
    with pytest.raises(UnsupportedLanguageError, match="tlh"):
        registry.speech_to_text("tlh").transcribe(clip("en", 3), "tlh")


@pytest.mark.parametrize(("language", "index"), [("es", 2), ("de", 1), ("pt", 0)])
def test_language_is_identified_from_speech(language: str, index: int) -> None:
    code, probability = identify_language(clip(language, index))
    assert code == language
    assert probability > 0.5
