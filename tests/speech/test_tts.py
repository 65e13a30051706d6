"""Speech synthesis: per language the voice measured most intelligible, streamed clause by
clause so the first audio leaves early; what every picked voice says is understood by
Whisper over a phone line; a language without a voice is refused, naming what is missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kallglot.core.settings import get_settings
from kallglot.speech import capabilities as caps
from kallglot.speech import registry, tts
from kallglot.speech.audio import telephone_band
from kallglot.speech.errors import UnsupportedLanguageError
from kallglot.speech.kokoro import KokoroSynthesizer
from kallglot.speech.metrics import word_error_rate
from kallglot.speech.pico import PicoSynthesizer

pytestmark = pytest.mark.slow

# Not the benchmark's sentences (bench/voices_sentences): a second, smaller set.
READ_BACK = {
    "en": [
        "Your order will arrive on Thursday.",
        "Please confirm your date of birth.",
        "I have cancelled the old subscription for you.",
        "The engineer will call you before he comes.",
        "You will receive a text message with the code.",
    ],
    "de": [
        "Ihre Bestellung kommt am Donnerstag an.",
        "Bitte bestätigen Sie Ihr Geburtsdatum.",
        "Ich habe das alte Abonnement für Sie gekündigt.",
        "Der Techniker ruft Sie an, bevor er kommt.",
        "Sie bekommen eine Nachricht mit dem Code.",
    ],
    "es": [
        "Su pedido llegará el jueves.",
        "Por favor, confirme su fecha de nacimiento.",
        "He cancelado la suscripción antigua.",
        "El técnico le llamará antes de ir.",
        "Recibirá un mensaje de texto con el código.",
    ],
    "fr": [
        "Votre commande arrivera jeudi.",
        "Merci de confirmer votre date de naissance.",
        "J'ai annulé l'ancien abonnement pour vous.",
        "Le technicien vous appellera avant de venir.",
        "Vous recevrez un message avec le code.",
    ],
    "it": [
        "Il suo ordine arriverà giovedì.",
        "Per favore, confermi la sua data di nascita.",
        "Ho annullato il vecchio abbonamento.",
        "Il tecnico la chiamerà prima di venire.",
        "Riceverà un messaggio con il codice.",
    ],
    "pt": [
        "O seu pedido chega na quinta-feira.",
        "Por favor, confirme a sua data de nascimento.",
        "Eu cancelei a assinatura antiga para você.",
        "O técnico vai ligar antes de chegar.",
        "Você vai receber uma mensagem com o código.",
    ],
}


@pytest.fixture
def empty_models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("KALLGLOT_SPEECH_MODELS_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    yield tmp_path / "models"
    get_settings.cache_clear()


def test_each_language_gets_a_natural_voice_and_espeak_is_only_the_fallback() -> None:
    picked = {lang: registry.choose_voice(lang) for lang in ("en", "de", "es", "fr", "it", "pt")}
    assert picked["en"].engine == "piper"
    assert picked["pt"].engine == "kokoro"
    assert all(not row.fallback for row in picked.values())
    for language in picked:
        assert registry.voices(language)[-1].engine == "espeak-ng"


@pytest.mark.parametrize("language", sorted(READ_BACK))
def test_the_picked_voice_is_understood_over_a_phone_line(language: str) -> None:
    voice = registry.synthesizer(language)
    sentences = READ_BACK[language]
    recogniser = registry.speech_to_text("en")
    heard = [
        recogniser.transcribe(telephone_band(voice.synthesize(s)), language).text for s in sentences
    ]
    assert word_error_rate(sentences, heard) <= caps.WER_BOUND[language], heard


def test_a_language_without_a_voice_is_refused() -> None:
    with pytest.raises(UnsupportedLanguageError, match="voice"):
        registry.synthesizer("tlh")


def test_a_missing_voice_is_named_and_never_replaced_silently(
    empty_models_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(UnsupportedLanguageError, match="pf_dora") as refused:
        registry.synthesizer("pt", fallback=False)
    assert "kallglot models install" in refused.value.message
    # Allowed to fall back, it says so: espeak-ng, and a warning naming what is missing.
    assert registry.synthesizer("pt").name == "espeak-ng"
    assert "fallback" in caplog.text
    assert "pf_dora" in caplog.text


def test_kokoro_phonemes_use_its_own_symbols() -> None:
    voice = KokoroSynthesizer("es", "ef_dora")
    phonemes = voice.phonemes("¿Mucho gusto, Chema?")
    assert "ʧ" in phonemes  # espeak's tied t^ʃ is one Kokoro symbol
    assert "^" not in phonemes
    assert "," in phonemes and phonemes.endswith("?")


def voiced_samples(samples: np.ndarray) -> int:
    """From the first to the last sound (Pico pads its output with silence)."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > tts.SILENCE_LEVEL)
    return int(loud[-1] - loud[0]) if loud.size else 0


def test_pico_ignores_markup_in_the_text_and_follows_the_speed() -> None:
    voice = PicoSynthesizer("es")
    plain = voice.synthesize("Gracias por llamar, su vuelo se ha cambiado.")
    marked = voice.synthesize(
        "<speed level='300'>Gracias por llamar, su vuelo se ha cambiado.</speed>"
    )
    assert np.array_equal(marked, plain)  # the tag was neither obeyed nor read out
    faster = voice.synthesize("Gracias por llamar, su vuelo se ha cambiado.", speed=1.3)
    assert voiced_samples(faster) < 0.9 * voiced_samples(plain)


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


@pytest.mark.parametrize("language", ["de", "es", "fr", "it", "pt"])
def test_espeak_speaks_every_language(language: str) -> None:
    samples = tts.EspeakSynthesizer(language).synthesize("Uno dos tres.")
    assert samples.size > 16_000 * 0.5
    assert np.abs(samples).max() > 1000


def test_piper_speech_is_understood_by_the_recogniser() -> None:
    sentence = "Your account has been updated and the refund will arrive next week."
    samples = registry.synthesizer("en").synthesize(sentence)
    heard = registry.speech_to_text("en").transcribe(samples, "en").text
    # Piper samples noise, so each rendering differs a little; a word or two may slip
    assert word_error_rate([sentence], [heard]) <= 0.3
