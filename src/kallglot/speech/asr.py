"""Speech recognition engines (non-streaming); ``recognizer`` makes them stream.

Whisper base (CTranslate2 via faster-whisper) serves every language we offer. It is
loaded once per process and shared; CTranslate2 runs one decode at a time on it
(``num_workers=1``) with ``speech_asr_threads`` threads, so two calls on two cores
never oversubscribe the machine.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from kallglot.core.settings import get_settings
from kallglot.speech import models
from kallglot.speech.audio import SAMPLE_RATE, Int16Array, to_float
from kallglot.speech.errors import EngineError, UnsupportedLanguageError

Task = Literal["transcribe", "translate"]
# Whisper loops on unclear audio; a phrase never needs more than this many tokens per 10 s.
TOKENS_PER_10S = 100
_WHISPER_LANGUAGES = (
    "af ar hy az be bs bg ca zh hr cs da nl en et fi fr gl de el he hi hu is id it ja kn "
    "kk ko lv lt mk ms mr mi ne no fa pl pt ro ru sr sk sl es sw sv tl ta th tr uk ur vi cy"
)
MIN_SPEECH_SAMPLES = SAMPLE_RATE // 10  # under 100 ms there is nothing to recognise


@dataclass(frozen=True, slots=True)
class Transcript:
    """Text of one utterance; ``confidence`` in [0, 1] (mean token probability)."""

    text: str
    language: str
    confidence: float
    duration_s: float


class SpeechToText(Protocol):
    """A non-streaming recogniser: whole utterance in, text out."""

    name: str

    def transcribe(self, samples: Int16Array, language: str, *, task: Task = ...) -> Transcript:
        """Recognise 16 kHz int16 samples spoken in ``language``."""
        ...


class WhisperEngine:
    """faster-whisper on the bundled Whisper base model (99 languages)."""

    name = "whisper-base"
    LANGUAGES = frozenset(_WHISPER_LANGUAGES.split())

    def __init__(self) -> None:
        from faster_whisper import WhisperModel  # type: ignore[import-untyped]

        settings = get_settings()
        model_dir = models.install_whisper_base()  # a no-op once joined
        self._model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=settings.speech_asr_compute_type,
            cpu_threads=settings.speech_asr_threads,
            num_workers=1,
        )

    def transcribe(
        self, samples: Int16Array, language: str, *, task: Task = "transcribe"
    ) -> Transcript:
        if language not in self.LANGUAGES:
            raise UnsupportedLanguageError(f"Whisper base does not recognise language {language!r}")
        duration = samples.size / SAMPLE_RATE
        if samples.size < MIN_SPEECH_SAMPLES or not np.any(samples):
            return Transcript("", language, 0.0, duration)
        max_tokens = min(440, max(24, int(TOKENS_PER_10S * duration / 10) + 24))
        try:
            segments, _info = self._model.transcribe(
                to_float(samples),
                language=language,
                task=task,
                beam_size=1,
                temperature=0.0,
                without_timestamps=True,
                condition_on_previous_text=False,
                vad_filter=False,
                max_new_tokens=max_tokens,
                no_repeat_ngram_size=3,  # stops 'un genre de genre de …' loops
                compression_ratio_threshold=None,
                log_prob_threshold=None,
                no_speech_threshold=None,
            )
            parts = list(segments)
        except (RuntimeError, ValueError) as exc:
            raise EngineError(f"Whisper failed: {type(exc).__name__}") from exc
        text = " ".join(p.text.strip() for p in parts).strip()
        if not text:
            return Transcript("", language, 0.0, duration)
        logprob = sum(p.avg_logprob for p in parts) / len(parts)
        no_speech = max(p.no_speech_prob for p in parts)
        if no_speech > 0.8 and logprob < -1.0:  # a hallucination on noise, not speech
            return Transcript("", language, 0.0, duration)
        return Transcript(text, language, float(math.exp(logprob)), duration)

    def detect_language(
        self, samples: Int16Array, candidates: frozenset[str] | None = None
    ) -> tuple[str, float]:
        """The most probable language (among ``candidates`` if given) and its probability."""
        if samples.size < MIN_SPEECH_SAMPLES:
            raise UnsupportedLanguageError("too little audio to identify its language")
        try:
            _lang, _prob, ranked = self._model.detect_language(to_float(samples))
        except (RuntimeError, ValueError) as exc:
            raise EngineError(f"Whisper language detection failed: {type(exc).__name__}") from exc
        scores = [(code, p) for code, p in ranked if candidates is None or code in candidates]
        if not scores:
            raise UnsupportedLanguageError("no candidate language was detected")
        total = sum(p for _, p in scores) or 1.0
        code, prob = max(scores, key=lambda item: item[1])
        return code, prob / total


_whisper_lock = threading.Lock()
_whisper: WhisperEngine | None = None


def whisper() -> WhisperEngine:
    """The process-wide Whisper engine, loaded on first use (thread-safe)."""
    global _whisper
    if _whisper is None:
        with _whisper_lock:
            if _whisper is None:
                _whisper = WhisperEngine()
    return _whisper
