"""The speech commands as a person runs them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

from kallglot.cli.main import app
from kallglot.speech import audio, pipeline, registry
from kallglot.speech.langid import identify_language
from kallglot.speech.metrics import word_error_rate
from tests.speech.conftest import clip, clip_path, reference

runner = CliRunner()


def test_speech_languages_prints_the_capability_table() -> None:
    result = runner.invoke(app, ["speech", "languages"])
    assert result.exit_code == 0, result.output
    assert "whisper-base" in result.stdout
    assert "bergamot" in result.stdout
    assert "en→de  unavailable on this install" in result.stdout
    assert "de→en  whisper-translate(de-en)" in result.stdout
    # every voice with its measured read-back WER; the registry's pick marked
    assert "pt   kokoro     pf_dora" in result.stdout
    assert result.stdout.count("PICKED") == 6


def test_models_list_and_verify() -> None:
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0
    assert "whisper-base" in listed.stdout
    # licence and source package of each model and voice
    assert "Apache-2.0" in listed.stdout
    assert "kokoro-js@1.2.1" in listed.stdout
    assert "GPL-3.0-or-later" in listed.stdout
    verified = runner.invoke(app, ["models", "verify"])
    assert verified.exit_code == 0, verified.output
    assert " NO " not in verified.stdout


def test_models_pull_of_an_unknown_model_fails_clearly() -> None:
    result = runner.invoke(app, ["models", "pull", "gpt-9"])
    assert result.exit_code == 1
    assert "unknown model 'gpt-9'" in result.stderr


@pytest.mark.slow
def test_transcribe_prints_only_the_transcript_on_stdout() -> None:
    result = runner.invoke(app, ["transcribe", str(clip_path("es", 2)), "--lang", "es"])
    assert result.exit_code == 0, result.output
    assert word_error_rate([reference("es", 2)], [result.stdout]) <= 0.15
    assert result.stdout.count("\n") == 1


@pytest.mark.slow
def test_transcribe_detects_the_language_and_reads_flac(tmp_path: Path) -> None:
    flac = tmp_path / "clip.flac"
    soundfile.write(flac, clip("de", 3), 16_000, format="FLAC")
    result = runner.invoke(app, ["transcribe", str(flac)])
    assert result.exit_code == 0, result.output
    assert word_error_rate([reference("de", 3)], [result.stdout]) <= 0.3


@pytest.mark.slow
def test_transcribe_of_silence_prints_nothing(tmp_path: Path) -> None:
    quiet = tmp_path / "quiet.wav"
    quiet.write_bytes(audio.wav_bytes(np.zeros(16_000 * 2, dtype=np.int16)))
    result = runner.invoke(app, ["transcribe", str(quiet), "--lang", "en"])
    assert result.exit_code == 0
    assert result.stdout == ""


@pytest.mark.parametrize("content", [b"", b"this is not audio" * 50])
def test_transcribe_of_a_corrupt_or_empty_file_fails_clearly(
    tmp_path: Path, content: bytes
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(content)
    result = runner.invoke(app, ["transcribe", str(bad), "--lang", "en"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "kallglot: " in result.stderr


def test_too_long_audio_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kallglot.core.settings import get_settings

    monkeypatch.setenv("KALLGLOT_SPEECH_MAX_AUDIO_SECONDS", "5")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["transcribe", str(clip_path("en", 0)), "--lang", "en"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "limit is 5 s" in result.stderr


def test_translate_audio_to_an_unsupported_language_names_what_is_missing(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.wav"
    result = runner.invoke(
        app,
        ["translate-audio", str(clip_path("en", 4)), "--from", "en", "--to", "de", "-o", str(out)],
    )
    assert result.exit_code == 1
    assert "English (en)" in result.stderr
    assert "German (de)" in result.stderr
    assert "Apertium" in result.stderr
    assert not out.exists()


@pytest.mark.slow
def test_translate_audio_writes_english_speech_with_progress(tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    result = runner.invoke(
        app,
        ["translate-audio", str(clip_path("pt", 0)), "--from", "pt", "--to", "en", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "%" in result.stderr
    assert result.stdout == ""
    data, rate = soundfile.read(io.BytesIO(out.read_bytes()), dtype="int16")
    assert rate == 16_000
    assert data.size > 16_000 * 3


@pytest.mark.slow
@pytest.mark.parametrize(("language", "index"), [("es", 0), ("es", 3), ("pt", 0), ("pt", 4)])
def test_spanish_and_portuguese_speech_becomes_english_speech(language: str, index: int) -> None:
    result = pipeline.translate_speech(clip(language, index), "en", language)
    translation = " ".join(result.target_texts)
    assert translation
    heard = registry.speech_to_text("en").transcribe(result.audio, "en").text
    # what a listener hears back is English and carries the translation
    assert identify_language(result.audio)[0] == "en"
    assert word_error_rate([translation], [heard]) <= 0.3


@pytest.mark.slow
def test_german_speech_becomes_english_speech_through_whisper() -> None:
    result = pipeline.translate_speech(clip("de", 3), "en", "de")
    assert result.route.startswith("whisper-translate(de-en)")
    assert result.target_texts
    assert identify_language(result.audio)[0] == "en"
