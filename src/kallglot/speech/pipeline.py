"""Whole-file speech work for the CLI and batch jobs: transcribe, and translate speech
into speech. The real-time path uses ``Recognizer`` and ``tts.stream`` instead."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kallglot.speech import registry
from kallglot.speech.asr import Transcript
from kallglot.speech.audio import FRAME_MS, Int16Array, frames
from kallglot.speech.errors import UnsupportedLanguageError
from kallglot.speech.langid import identify_language
from kallglot.speech.tts import silence
from kallglot.speech.vad import Segmenter, SegmenterOptions, SpeechSegment, make_vad

# Files are not live: wait longer before cutting, and allow longer utterances.
FILE_SEGMENTER = SegmenterOptions(end_silence_ms=700, max_utterance_ms=28_000)
GAP_MS = 300

Progress = Callable[[int, int], None]  # (milliseconds done, milliseconds in all)


def segments(
    samples: Int16Array, options: SegmenterOptions = FILE_SEGMENTER
) -> list[SpeechSegment]:
    """The utterances of a recording, cut by the VAD (silence gives none)."""
    segmenter = Segmenter(make_vad("silero"), options)
    found: list[SpeechSegment] = []
    for frame in frames(samples):
        _started, segment = segmenter.push(frame)
        if segment is not None:
            found.append(segment)
    tail = segmenter.flush()
    if tail is not None:
        found.append(tail)
    return found


def resolve_language(utterances: list[SpeechSegment], language: str | None) -> str | None:
    """The given language, or the one identified on the speech; None without speech."""
    if language is not None or not utterances:
        return language
    speech = np.concatenate([u.samples for u in utterances])
    code, _probability = identify_language(speech)
    return code


def transcribe(
    samples: Int16Array, language: str | None = None, *, progress: Progress | None = None
) -> list[Transcript]:
    """Transcripts of each utterance, in order (empty for silence)."""
    utterances = segments(samples)
    language = resolve_language(utterances, language)
    if language is None:
        return []
    engine = registry.speech_to_text(language)
    total = len(samples) * 1000 // 16_000
    results: list[Transcript] = []
    for utterance in utterances:
        result = engine.transcribe(utterance.samples, language)
        if result.text:
            results.append(result)
        if progress is not None:
            progress(utterance.end_ms, total)
    return results


@dataclass
class SpeechTranslation:
    source_language: str
    target_language: str
    route: str
    source_texts: list[str] = field(default_factory=list)
    target_texts: list[str] = field(default_factory=list)
    audio: Int16Array = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    voice: str = ""


def translate_speech(
    samples: Int16Array,
    target: str,
    source: str | None = None,
    *,
    progress: Progress | None = None,
) -> SpeechTranslation:
    """Recognise, translate and speak each utterance in ``target``.

    The route comes from the capability table: text MT after recognition, or Whisper's
    speech→English (then text MT on from English) where no text engine serves the pair.
    """
    if source is not None and source == target:
        raise UnsupportedLanguageError("source and target language are the same")
    utterances = segments(samples)
    source = resolve_language(utterances, source)
    if source is None:
        return SpeechTranslation(source or "", target, "")
    route = registry.best_route(source, target, speech=True)
    voice = registry.synthesizer(target)
    asr = registry.speech_to_text(source)
    text_mt = registry.text_translator_for_hops(route.hops)
    out = SpeechTranslation(source, target, route.describe(), voice=voice.name)
    pieces: list[Int16Array] = []
    total = len(samples) * 1000 // 16_000
    for utterance in utterances:
        if route.speech_first:
            heard = asr.transcribe(utterance.samples, source, task="translate")
        else:
            heard = asr.transcribe(utterance.samples, source)
        if heard.text:
            translated = (
                text_mt.translate(heard.text, route.source, route.target) if text_mt else heard.text
            )
            out.source_texts.append(heard.text)
            out.target_texts.append(translated)
            if pieces:
                pieces.append(silence(GAP_MS))
            pieces.append(voice.synthesize(translated))
        if progress is not None:
            progress(utterance.end_ms, total)
    if pieces:
        out.audio = np.concatenate(pieces)
    return out


__all__ = ["FRAME_MS", "SpeechTranslation", "segments", "transcribe", "translate_speech"]
