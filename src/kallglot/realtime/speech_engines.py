"""The real speech engines of :mod:`kallglot.speech`, seen through the pipeline's protocols."""

from __future__ import annotations

from collections.abc import AsyncIterator

from kallglot.realtime.engines import (
    FinalText,
    PartialText,
    RecognitionEvent,
    SpeechStarted,
)
from kallglot.speech import registry, tts
from kallglot.speech import service as speech_service
from kallglot.speech.audio import AudioFrame
from kallglot.speech.errors import UnsupportedLanguageError
from kallglot.speech.executor import Lane, run_blocking
from kallglot.speech.langid import identify_language
from kallglot.speech.recognizer import RecognitionEvent as SpeechEvent
from kallglot.speech.recognizer import Recognizer, RecognizerOptions
from kallglot.speech.vad import SegmenterOptions, SpeechSegment

# The languages whose whole chain (ASR, MT both ways, TTS) is installed here.
WARM_LANGUAGES = ("en", "es", "pt")
WARM_PAIRS = tuple((a, b) for a in WARM_LANGUAGES for b in WARM_LANGUAGES if a != b)

# Phone speech often starts softly: with 600 ms of audio kept before the VAD fires, Whisper
# hears the first words (FLEURS through mu-law: en WER 0.36 → 0.21 on clip 2, 0.40 → 0.20 on 4).
CALL_OPTIONS = RecognizerOptions(segmenter=SegmenterOptions(pre_roll_ms=600))


# How sure language identification must be to overrule a number's language: below it the
# number's language stands (a short or noisy first utterance is often misidentified).
HINT_OVERRULED_AT = 0.7


class _HintedRecognizer(Recognizer):
    """Identifies the first utterance's language; keeps ``hint`` unless another language is
    heard with at least :data:`HINT_OVERRULED_AT` probability."""

    def __init__(self, hint: str, options: RecognizerOptions) -> None:
        super().__init__(None, options=options)
        self._hint = hint

    async def _final(self, segment: SpeechSegment) -> list[SpeechEvent]:
        if self.language is None:
            try:
                identified, probability = await run_blocking(
                    Lane.RECOGNITION, identify_language, segment.samples, None
                )
            except UnsupportedLanguageError:
                identified, probability = self._hint, 1.0
            confident = identified != self._hint and probability >= HINT_OVERRULED_AT
            self.language = identified if confident else self._hint
        return await super()._final(segment)


class _Recognizer:
    def __init__(self, language: str | None, *, hint: bool = False) -> None:
        if hint and language is not None:
            self._recognizer: Recognizer = _HintedRecognizer(language, CALL_OPTIONS)
        else:
            self._recognizer = Recognizer(language, options=CALL_OPTIONS)

    @property
    def language(self) -> str | None:
        return self._recognizer.language

    @language.setter
    def language(self, value: str | None) -> None:
        self._recognizer.language = value

    async def feed(self, frame: AudioFrame) -> list[RecognitionEvent]:
        return [self._convert(found) for found in await self._recognizer.feed(frame)]

    async def flush(self) -> list[RecognitionEvent]:
        try:
            return [self._convert(found) for found in await self._recognizer.finish()]
        finally:
            await self._recognizer.aclose()

    def _convert(self, found: SpeechEvent) -> RecognitionEvent:
        language = found.language or None
        if found.kind == "speech_started":
            return SpeechStarted(found.start_ms)
        if found.kind == "partial":
            return PartialText(found.text, language)
        return FinalText(
            found.text, language, found.start_ms, self._voice_end(found), found.confidence
        )

    def _voice_end(self, final: SpeechEvent) -> int:
        """Where the voice stopped: a segment closed by silence carries that silence at its end.

        Latency is counted from here, so the segmenter's wait for silence is part of it.
        """
        options = self._recognizer.options.segmenter
        if final.end_ms - final.start_ms >= options.max_utterance_ms:
            return final.end_ms
        return max(final.start_ms, final.end_ms - options.end_silence_ms)


class InstalledSpeechEngines:
    """Engines chosen per language and pair by the speech capability table."""

    def recognizer(self, language: str | None, *, hint: bool = False) -> _Recognizer:
        return _Recognizer(language, hint=hint)

    async def translate(self, text: str, source: str, target: str) -> str:
        return await speech_service.translate_text(text, source, target)

    async def synthesize(
        self, text: str, language: str, *, speed: float = 1.0
    ) -> AsyncIterator[bytes]:
        async for samples in tts.stream(registry.synthesizer(language), text, speed=speed):
            yield samples.astype("<i2").tobytes()

    def warm_up(self) -> None:
        """Load Whisper, the voices and every installed text pair before the first call."""
        speech_service.warm_up(WARM_LANGUAGES, WARM_PAIRS)

    def check_pair(self, source: str, target: str) -> None:
        registry.best_route(source, target, speech=False)
        registry.synthesizer(target)
