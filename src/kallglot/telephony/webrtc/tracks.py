"""Audio between aiortc's frames and the session's 16 kHz PCM, both ways."""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from kallglot.speech.audio import SAMPLE_RATE
from kallglot.speech.g711 import Int16Array
from kallglot.telephony.media import StreamResampler
from kallglot.telephony.media.codecs import OPUS_FRAME_SAMPLES, OPUS_RATE
from kallglot.telephony.media.pacer import FRAME_S

BYTES_PER_SAMPLE = 2
FRAME_BYTES = OPUS_FRAME_SAMPLES * BYTES_PER_SAMPLE


def mono_pcm(frame: av.AudioFrame) -> Int16Array:
    """A decoded frame (any layout, packed or planar, int16 or float) as int16 mono."""
    samples = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        planes = samples.reshape(channels, -1)
    else:
        planes = samples.reshape(-1, channels).T
    if np.issubdtype(planes.dtype, np.floating):
        planes = planes * 32768.0
    mixed = planes.astype(np.float32).mean(axis=0)
    return np.asarray(np.clip(np.rint(mixed), -32768, 32767), dtype=np.int16)


class TranslatedSpeechTrack(MediaStreamTrack):
    """What the party hears: translated speech, in 20 ms frames at real time.

    aiortc pulls a frame with :meth:`recv` whenever its encoder is ready; this track
    answers on an absolute 20 ms schedule (silence when nothing is queued), so the
    browser's jitter buffer sees a steady stream. :meth:`clear` drops what is queued
    (barge-in): the queue lives here, on our side, where it can still be dropped.
    """

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._upsampler = StreamResampler(SAMPLE_RATE, OPUS_RATE)
        self._queued = bytearray()
        self._time_base = fractions.Fraction(1, OPUS_RATE)
        self._pts = 0
        self._deadline: float | None = None
        self.frames_sent = 0
        self.speech_frames_sent = 0

    @property
    def queued_seconds(self) -> float:
        return len(self._queued) / BYTES_PER_SAMPLE / OPUS_RATE

    def push(self, pcm16k: bytes) -> None:
        """Queue translated speech (16-bit PCM at 16 kHz, any length)."""
        wide = self._upsampler.process(np.frombuffer(pcm16k, dtype="<i2"))
        self._queued.extend(wide.astype("<i2").tobytes())

    def clear(self) -> float:
        """Drop everything queued; returns how many seconds were dropped."""
        dropped = self.queued_seconds
        self._queued.clear()
        return dropped

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._wait_for_slot()
        if len(self._queued) >= FRAME_BYTES:
            payload = bytes(self._queued[:FRAME_BYTES])
            del self._queued[:FRAME_BYTES]
            self.speech_frames_sent += 1
        elif self._queued:  # the last bit of an utterance, padded with silence
            payload = bytes(self._queued).ljust(FRAME_BYTES, b"\0")
            self._queued.clear()
            self.speech_frames_sent += 1
        else:
            payload = bytes(FRAME_BYTES)
        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(payload, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = OPUS_RATE
        frame.time_base = self._time_base
        frame.pts = self._pts
        self._pts += OPUS_FRAME_SAMPLES
        self.frames_sent += 1
        return frame

    async def _wait_for_slot(self) -> None:
        """Sleep until this frame's turn; after a stall, restart the schedule (no burst)."""
        now = time.monotonic()
        if self._deadline is None or self._deadline < now - FRAME_S:
            self._deadline = now
        await asyncio.sleep(max(0.0, self._deadline - now))
        self._deadline += FRAME_S
