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
from kallglot.speech.audio import AudioFrame
from kallglot.speech.executor import run_blocking
from kallglot.speech.recognizer import RecognitionEvent as SpeechEvent
from kallglot.speech.recognizer import Recognizer


class _Recognizer:
    def __init__(self, language: str | None) -> None:
        self._recognizer = Recognizer(language)

    @property
    def language(self) -> str | None:
        return self._recognizer.language

    @language.setter
    def language(self, value: str | None) -> None:
        self._recognizer.language = value

    async def feed(self, frame: AudioFrame) -> list[RecognitionEvent]:
        return [_convert(found) for found in await self._recognizer.feed(frame)]

    async def flush(self) -> list[RecognitionEvent]:
        try:
            return [_convert(found) for found in await self._recognizer.finish()]
        finally:
            await self._recognizer.aclose()


def _convert(found: SpeechEvent) -> RecognitionEvent:
    language = found.language or None
    if found.kind == "speech_started":
        return SpeechStarted(found.start_ms)
    if found.kind == "partial":
        return PartialText(found.text, language)
    return FinalText(found.text, language, found.start_ms, found.end_ms, found.confidence)


class InstalledSpeechEngines:
    """Engines chosen per language and pair by the speech capability table."""

    def recognizer(self, language: str | None) -> _Recognizer:
        return _Recognizer(language)

    async def translate(self, text: str, source: str, target: str) -> str:
        translator = registry.translator(source, target)
        return await run_blocking(translator.translate, text, source, target)

    async def synthesize(self, text: str, language: str) -> AsyncIterator[bytes]:
        async for samples in tts.stream(registry.synthesizer(language), text):
            yield samples.astype("<i2").tobytes()

    def check_pair(self, source: str, target: str) -> None:
        registry.best_route(source, target, speech=False)
        registry.synthesizer(target)
