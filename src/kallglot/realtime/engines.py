"""What the call pipeline needs from the speech domain, and nothing more.

The pipeline is written against these protocols; :mod:`kallglot.realtime.speech_engines`
adapts the real engines of :mod:`kallglot.speech` to them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from kallglot.speech.audio import AudioFrame


@dataclass(frozen=True)
class SpeechStarted:
    start_ms: int


@dataclass(frozen=True)
class PartialText:
    text: str
    language: str | None


@dataclass(frozen=True)
class FinalText:
    text: str
    language: str | None
    start_ms: int
    end_ms: int
    confidence: float | None


RecognitionEvent = SpeechStarted | PartialText | FinalText


class StreamingRecognizer(Protocol):
    """One party's speech: feed 20 ms frames, get speech starts, partials and finals."""

    language: str | None

    async def feed(self, frame: AudioFrame) -> list[RecognitionEvent]: ...

    async def flush(self) -> list[RecognitionEvent]: ...


class SpeechEngines(Protocol):
    def recognizer(self, language: str | None, *, hint: bool = False) -> StreamingRecognizer:
        """``language`` None: identified on the first utterance. With ``hint``, the first
        utterance is identified and ``language`` kept unless another is confidently heard."""
        ...

    async def translate(self, text: str, source: str, target: str) -> str: ...

    def synthesize(self, text: str, language: str, *, speed: float = 1.0) -> AsyncIterator[bytes]:
        """16 kHz 16-bit PCM chunks, ``speed`` times the voice's pace; the first as early
        as the engine can."""
        ...

    def warm_up(self) -> None:
        """Blocking: load what every call will need."""
        ...

    def check_pair(self, source: str, target: str) -> None:
        """Raise a clear error naming what is missing when a pair cannot be translated."""
        ...
