"""Speech synthesis: the most natural installed voice per language, streamed clause by
clause so the first audio leaves early; Whisper understands what Piper says."""

from __future__ import annotations

import numpy as np
import pytest

from kallglot.speech import registry, tts
from kallglot.speech.errors import UnsupportedLanguageError
from kallglot.speech.metrics import word_error_rate

pytestmark = pytest.mark.slow


def test_english_gets_piper_and_other_languages_espeak() -> None:
    assert registry.synthesizer("en").name == "piper"
    for language in ("de", "es", "fr", "pt"):
        assert registry.synthesizer(language).name == "espeak-ng"


def test_a_language_without_a_voice_is_refused() -> None:
    with pytest.raises(UnsupportedLanguageError, match="voice"):
        registry.synthesizer("tlh")


def test_long_text_is_split_into_clauses() -> None:
    text = "Hello, thank you for calling. How can I help you today? I will check your account."
    clauses = tts.split_clauses(text)
    assert len(clauses) >= 3
    assert " ".join(clauses) == text


def test_a_long_first_clause_sends_its_first_words_ahead() -> None:
    clauses = tts.split_clauses("Using the board of blocs can allow students to be more critical.")
    assert tts.first_words_apart(clauses[0]) == [
        "Using the board of blocs",
        "can allow students to be more critical.",
    ]
    short = tts.split_clauses("Thank you for calling. How can I help?")
    assert short == ["Thank you for calling.", "How can I help?"]
    assert tts.first_words_apart(short[0]) == ["Thank you for calling."]


async def test_a_sentence_sent_in_pieces_is_still_understood() -> None:
    sentence = "They can define their positions in the context of the writings of others."
    voice = registry.synthesizer("en")
    pieces = [chunk async for chunk in tts.stream(voice, sentence)]
    assert len(pieces) == 2
    assert pieces[0].size < 16_000 * 2.2  # the first words alone, no long pause after them
    heard = registry.speech_to_text("en").transcribe(np.concatenate(pieces), "en").text
    assert word_error_rate([sentence], [heard]) <= 0.3


async def test_stream_yields_several_chunks_of_16khz_audio() -> None:
    voice = registry.synthesizer("en")
    text = "Thank you for calling. Your flight has been moved to tomorrow morning."
    chunks = [chunk async for chunk in tts.stream(voice, text)]
    assert len(chunks) >= 2
    assert all(c.dtype == np.int16 and c.size > 1600 for c in chunks)


async def test_empty_text_streams_nothing() -> None:
    assert [c async for c in tts.stream(registry.synthesizer("es"), "   ")] == []


@pytest.mark.parametrize("language", ["de", "es", "fr", "pt"])
def test_espeak_speaks_every_language(language: str) -> None:
    samples = registry.synthesizer(language).synthesize("Uno dos tres.")
    assert samples.size > 16_000 * 0.5
    assert np.abs(samples).max() > 1000


def test_piper_speech_is_understood_by_the_recogniser() -> None:
    sentence = "Your account has been updated and the refund will arrive next week."
    samples = registry.synthesizer("en").synthesize(sentence)
    heard = registry.speech_to_text("en").transcribe(samples, "en").text
    # Piper samples noise, so each rendering differs a little; a word or two may slip
    assert word_error_rate([sentence], [heard]) <= 0.3
