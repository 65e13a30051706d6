"""Speech recognition engines (non-streaming); ``recognizer`` makes them stream.

Whisper base (CTranslate2 via faster-whisper) serves every language we offer. It is
loaded once per process and shared; CTranslate2 runs ``speech_asr_replicas`` decodes at
once (they share the weights), each on ``speech_asr_threads`` threads. On two cores, two
one-thread replicas beat one two-thread run: a single decode of 8 s of speech took 0.7 s on
one thread and 0.95 s on two (the decoder's small steps gain nothing from a second thread),
and a final no longer waits for a partial that is being decoded.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from kallglot.core.settings import get_settings
from kallglot.speech import models
from kallglot.speech.audio import SAMPLE_RATE, Int16Array, to_float
from kallglot.speech.errors import EngineError, UnsupportedLanguageError

Task = Literal["transcribe", "translate"]
TOKENS_PER_10S = 100
_WHISPER_LANGUAGES = (
    "af ar hy az be bs bg ca zh hr cs da nl en et fi fr gl de el he hi hu is id it ja kn "
    "kk ko lv lt mk ms mr mi ne no fa pl pt ro ru sr sk sl es sw sv tl ta th tr uk ur vi cy"
)
MIN_SPEECH_SAMPLES = SAMPLE_RATE // 10  # under 100 ms there is nothing to recognise
MAX_SHORT_SAMPLES = 29 * SAMPLE_RATE
MEL_FRAMES_30S = 3000  # 10 ms a frame
MEL_PAD_FRAMES = 300  # 3 s of silence after the utterance
NO_SPEECH = 0.8


def _max_tokens(duration_s: float) -> int:
    """Whisper loops on unclear audio; a phrase never needs more than this."""
    return min(440, max(24, int(TOKENS_PER_10S * duration_s / 10) + 24))


@dataclass(frozen=True, slots=True)
class Transcript:
    """Text of one utterance; ``confidence`` in [0, 1] (mean token probability)."""

    text: str
    language: str
    confidence: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class Utterance:
    """16 kHz int16 samples spoken in ``language``, to recognise (or translate to English)."""

    samples: Int16Array
    language: str
    task: Task = "transcribe"


class SpeechToText(Protocol):
    """A non-streaming recogniser: whole utterance in, text out."""

    name: str

    def transcribe(
        self, samples: Int16Array, language: str, *, task: Task = ..., beam_size: int = ...
    ) -> Transcript:
        """Recognise 16 kHz int16 samples spoken in ``language`` (``beam_size`` 0: the
        engine's default for finals; 1: greedy, for cheap partials)."""
        ...

    def transcribe_batch(
        self, utterances: Sequence[Utterance], *, beam_size: int = ...
    ) -> list[Transcript]:
        """Several utterances in one run (their transcripts in order): on a CPU one
        batched decode of four costs well under four single ones."""
        ...


class WhisperEngine:
    """faster-whisper on the bundled Whisper base model (99 languages)."""

    name = "whisper-base"
    LANGUAGES = frozenset(_WHISPER_LANGUAGES.split())

    def __init__(self) -> None:
        # oneDNN (inside CTranslate2) caches compiled kernels per input shape, up to 1024 of
        # them; utterances of every length filled it by ~1.6 MB a decode (RSS +200 MB in 120
        # decodes, still growing). Without the cache memory stays flat at the same speed
        # (120 decodes: 21.0 s cached, 20.7 s not). Read when the library loads, so set first.
        os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "0")
        from faster_whisper import WhisperModel  # type: ignore[import-untyped]

        settings = get_settings()
        model_dir = models.install_whisper_base()  # a no-op once joined
        self._model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=settings.speech_asr_compute_type,
            cpu_threads=settings.speech_asr_threads,
            num_workers=settings.speech_asr_replicas,
        )
        self._tokenizers: dict[tuple[str, Task], Any] = {}
        self._beam_size = settings.speech_asr_beam_size

    def transcribe(
        self, samples: Int16Array, language: str, *, task: Task = "transcribe", beam_size: int = 0
    ) -> Transcript:
        return self.transcribe_batch([Utterance(samples, language, task)], beam_size=beam_size)[0]

    def transcribe_batch(
        self, utterances: Sequence[Utterance], *, beam_size: int = 0
    ) -> list[Transcript]:
        for utterance in utterances:
            if utterance.language not in self.LANGUAGES:
                raise UnsupportedLanguageError(
                    f"Whisper base does not recognise language {utterance.language!r}"
                )
        beam = beam_size or self._beam_size
        results: dict[int, tuple[str, float]] = {}
        short: list[int] = []
        try:
            for index, utterance in enumerate(utterances):
                samples = utterance.samples
                if samples.size < MIN_SPEECH_SAMPLES or not np.any(samples):
                    results[index] = ("", 0.0)
                elif samples.size > MAX_SHORT_SAMPLES:
                    results[index] = self._transcribe_long(utterance, beam)
                else:
                    short.append(index)
            if short:
                decoded = self._transcribe_short([utterances[i] for i in short], beam)
                results.update(zip(short, decoded, strict=True))
        except (RuntimeError, ValueError) as exc:
            raise EngineError(f"Whisper failed: {type(exc).__name__}") from exc
        transcripts = []
        for index, utterance in enumerate(utterances):
            text, confidence = results[index]
            duration = utterance.samples.size / SAMPLE_RATE
            transcripts.append(
                Transcript(text, utterance.language, confidence if text else 0.0, duration)
            )
        return transcripts

    def _tokenizer(self, language: str, task: Task) -> Any:
        key = (language, task)
        found = self._tokenizers.get(key)
        if found is None:
            from faster_whisper.tokenizer import Tokenizer  # type: ignore[import-untyped]

            found = Tokenizer(self._model.hf_tokenizer, True, task=task, language=language)
            self._tokenizers[key] = found
        return found

    def _transcribe_short(self, utterances: list[Utterance], beam: int) -> list[tuple[str, float]]:
        """Utterances under 30 s, decoded together: the encoder sees each utterance plus a
        little silence instead of a 30 s window. Whisper base is as accurate this way on
        FLEURS (bench/speech.py) and the encoder pass shrinks with the utterance (~8x at
        3 s). In a batch the shorter ones get more of that silence."""
        import ctranslate2  # type: ignore[import-untyped]

        mels = [self._model.feature_extractor(to_float(u.samples)) for u in utterances]
        # Every utterance here is under 29 s, so under the 30 s window, so it fits.
        frames = min(MEL_FRAMES_30S, max(mel.shape[-1] for mel in mels) + MEL_PAD_FRAMES)
        batch = np.stack([np.pad(mel, ((0, 0), (0, frames - mel.shape[-1]))) for mel in mels])
        tokenizers = [self._tokenizer(u.language, u.task) for u in utterances]
        prompts = [[*tokenizer.sot_sequence, tokenizer.no_timestamps] for tokenizer in tokenizers]
        limits = [_max_tokens(u.samples.size / SAMPLE_RATE) for u in utterances]
        features = ctranslate2.StorageView.from_array(np.ascontiguousarray(batch))
        results = self._model.model.generate(
            features,
            prompts,
            beam_size=beam,
            max_length=len(prompts[0]) + max(limits),
            no_repeat_ngram_size=3,  # stops 'un genre de genre de …' loops
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
        )
        decoded = []
        for result, tokenizer, limit in zip(results, tokenizers, limits, strict=True):
            ids = [t for t in result.sequences_ids[0] if t < tokenizer.eot][:limit]
            text = str(tokenizer.decode(ids)).strip()
            logprob = float(result.scores[0])
            if result.no_speech_prob > NO_SPEECH and logprob < -1.0:  # noise, not speech
                decoded.append(("", 0.0))
            else:
                decoded.append((text, math.exp(min(logprob, 0.0))))
        return decoded

    def _transcribe_long(self, utterance: Utterance, beam: int) -> tuple[str, float]:
        """Over 30 s: faster-whisper's own 30 s windows."""
        duration = utterance.samples.size / SAMPLE_RATE
        segments, _info = self._model.transcribe(
            to_float(utterance.samples),
            language=utterance.language,
            task=utterance.task,
            beam_size=beam,
            temperature=0.0,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
            max_new_tokens=_max_tokens(min(duration, 30.0)),
            no_repeat_ngram_size=3,
            compression_ratio_threshold=None,
            log_prob_threshold=None,
            no_speech_threshold=None,
        )
        parts = [p for p in segments if not (p.no_speech_prob > NO_SPEECH and p.avg_logprob < -1)]
        text = " ".join(p.text.strip() for p in parts).strip()
        if not parts or not text:
            return "", 0.0
        return text, math.exp(sum(p.avg_logprob for p in parts) / len(parts))

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
