"""Streaming recognition on top of a non-streaming engine.

Frames go through a VAD segmenter. While someone speaks, the growing utterance is
re-decoded for a *partial* (greedy, after waiting finals) at most every ``partial_interval_ms``
of speech, only when no other partial decode of this stream is running and, after a partial,
not before as long again as it took has passed: on a busy machine partials come less often
instead of filling the recogniser (an utterance is cut at ``max_utterance_ms``). No partial
starts while the voice pauses: the final may be a moment away, and would wait for it.
When speech ends, the whole utterance is decoded once, temperature 0: the *final* is
stable and replaces every partial before it. Decodes of several streams that queue
together run as one batch (see ``executor``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from dataclasses import dataclass, field
from typing import Literal

from kallglot.speech.asr import SpeechToText, Transcript, Utterance, whisper
from kallglot.speech.audio import AudioFrame, Int16Array
from kallglot.speech.errors import UnsupportedLanguageError
from kallglot.speech.executor import Lane, Urgency, run_batched, run_blocking
from kallglot.speech.langid import identify_language
from kallglot.speech.vad import Segmenter, SegmenterOptions, SpeechSegment, make_vad

EventKind = Literal["speech_started", "partial", "final"]


@dataclass(frozen=True, slots=True)
class RecognitionEvent:
    """A recognition result in stream time (ms since the first frame)."""

    kind: EventKind
    text: str
    language: str
    start_ms: int
    end_ms: int
    confidence: float = 0.0


@dataclass(frozen=True, slots=True)
class RecognizerOptions:
    """``partials=False`` saves the re-decoding (each costs one encoder pass, ~0.7 CPU-s
    for Whisper base) when the machine is busy or nobody watches live text."""

    partials: bool = True
    partial_interval_ms: int = 1000
    min_partial_ms: int = 600
    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)
    vad: str = "silero"


class Recognizer:
    """Feed 20 ms frames, get partials and finals. One instance per audio stream.

    ``language=None`` identifies the language on the first utterance (among
    ``candidates``) and keeps it for the rest of the stream.
    """

    def __init__(
        self,
        language: str | None,
        *,
        engine: SpeechToText | None = None,
        options: RecognizerOptions | None = None,
        candidates: frozenset[str] | None = None,
    ) -> None:
        self.language = language
        self.options = options or RecognizerOptions()
        self._engine = engine
        self._candidates = candidates
        self._segmenter = Segmenter(make_vad(self.options.vad), self.options.segmenter)
        self._partial_task: asyncio.Task[Transcript] | None = None
        self._partial_span: tuple[int, int] = (0, 0)
        self._partial_generation = -1
        self._last_partial_ms = 0
        self._partial_started_at = 0.0
        self._partials_paused_until = 0.0
        self._generation = 0

    @property
    def engine(self) -> SpeechToText:
        if self._engine is None:
            self._engine = whisper()
        return self._engine

    async def feed(self, frame: AudioFrame) -> list[RecognitionEvent]:
        """Push one frame; returns the events it produced (often none)."""
        events = self._collect_partial()
        started, segment = self._segmenter.push(frame)
        if started:
            self._generation += 1
            self._last_partial_ms = 0
            events.append(
                RecognitionEvent(
                    "speech_started", "", self.language or "", frame.start_ms, frame.start_ms
                )
            )
        if segment is not None:
            events.extend(await self._final(segment))
        elif self._segmenter.in_speech:
            self._maybe_start_partial()
        return events

    async def finish(self) -> list[RecognitionEvent]:
        """End of stream: the final of an open utterance, if any."""
        segment = self._segmenter.flush()
        return await self._final(segment) if segment is not None else []

    async def aclose(self) -> None:
        if self._partial_task is not None:
            self._partial_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._partial_task
            self._partial_task = None

    def _maybe_start_partial(self) -> None:
        if not self.options.partials or self._partial_task is not None:
            return
        length = self._segmenter.utterance_ms
        if self.language is None or length < self.options.min_partial_ms:
            return
        if length - self._last_partial_ms < self.options.partial_interval_ms:
            return
        if self._segmenter.trailing_silence_ms or time.monotonic() < self._partials_paused_until:
            return
        current = self._segmenter.current()
        if current is None:
            return
        self._last_partial_ms = length
        self._partial_started_at = time.monotonic()
        self._partial_span = (current.start_ms, current.end_ms)
        self._partial_generation = self._generation
        # Greedy, and after every final waiting in the pool: a partial can wait, a final not.
        self._partial_task = asyncio.create_task(
            self._decode(current.samples, self.language, Urgency.SOON, beam_size=1)
        )

    def _collect_partial(self) -> list[RecognitionEvent]:
        task = self._partial_task
        if task is None or not task.done():
            return []
        self._partial_task = None
        now = time.monotonic()
        self._partials_paused_until = now + (now - self._partial_started_at)
        if task.cancelled() or task.exception() is not None:
            return []
        if self._partial_generation != self._generation or not self._segmenter.in_speech:
            return []  # the utterance has ended: its final supersedes this partial
        result = task.result()
        if not result.text:
            return []
        start, end = self._partial_span
        return [
            RecognitionEvent("partial", result.text, result.language, start, end, result.confidence)
        ]

    async def _decode(
        self, samples: Int16Array, language: str, urgency: Urgency, *, beam_size: int = 0
    ) -> Transcript:
        """Decoded in one batch with the other streams' decodes of this kind queued with it
        (callers who stop speaking together)."""
        engine = self.engine
        return await run_batched(
            Lane.RECOGNITION,
            urgency,
            functools.partial(engine.transcribe_batch, beam_size=beam_size),
            Utterance(samples, language),
            batch_key=(id(engine), beam_size),
        )

    async def _final(self, segment: SpeechSegment) -> list[RecognitionEvent]:
        self._generation += 1
        if self._partial_task is not None:
            self._partial_task.cancel()
            self._partial_task = None
        if self.language is None:
            try:
                identified, _p = await run_blocking(
                    Lane.RECOGNITION, identify_language, segment.samples, self._candidates
                )
            except UnsupportedLanguageError:
                return []
            self.language = identified
        language = self.language
        result = await self._decode(segment.samples, language, Urgency.WAITED_FOR)
        if not result.text:
            return []
        return [
            RecognitionEvent(
                "final", result.text, language, segment.start_ms, segment.end_ms, result.confidence
            )
        ]
