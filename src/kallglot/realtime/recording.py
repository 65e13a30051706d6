"""Two-channel call recordings, kept only when the session asks for them.

Channel 1 holds what the parties said (both, on one timeline), channel 2 what
they heard translated. Audio stays in memory, at 8 kHz (the telephone band it
came from), and is written once, encrypted, when the call ends; without
recording nothing is kept at all.
"""

from __future__ import annotations

import io
import time
import wave

import numpy as np
import soxr  # type: ignore[import-untyped]

from kallglot.speech.audio import SAMPLE_RATE

RECORDING_RATE = 8000
MAX_SECONDS = 4 * 3600


class Recorder:
    ORIGINAL, TRANSLATED = 0, 1

    def __init__(self, max_seconds: int = MAX_SECONDS) -> None:
        self._started = time.monotonic()
        self._capacity = max_seconds * RECORDING_RATE
        self._channels = [np.zeros(0, dtype=np.int16), np.zeros(0, dtype=np.int16)]
        self._down = [
            soxr.ResampleStream(SAMPLE_RATE, RECORDING_RATE, 1, dtype="int16") for _ in range(2)
        ]

    def add(self, channel: int, pcm16k: bytes) -> None:
        """Mix 16 kHz audio into ``channel`` at the current moment of the call."""
        narrow = np.asarray(
            self._down[channel].resample_chunk(np.frombuffer(pcm16k, dtype="<i2")), np.int16
        )
        offset = int((time.monotonic() - self._started) * RECORDING_RATE)
        end = min(offset + narrow.size, self._capacity)
        if end <= offset:
            return
        track = self._channels[channel]
        if track.size < end:
            track = np.concatenate([track, np.zeros(end - track.size, dtype=np.int16)])
        mixed = track[offset:end].astype(np.int32) + narrow[: end - offset]
        track[offset:end] = np.clip(mixed, -32768, 32767).astype(np.int16)
        self._channels[channel] = track

    @property
    def seconds(self) -> float:
        return max(track.size for track in self._channels) / RECORDING_RATE

    def wav(self) -> bytes:
        length = max(track.size for track in self._channels)
        stereo = np.zeros((length, 2), dtype="<i2")
        for index, track in enumerate(self._channels):
            stereo[: track.size, index] = track
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(2)
            out.setsampwidth(2)
            out.setframerate(RECORDING_RATE)
            out.writeframes(stereo.tobytes())
        return buffer.getvalue()
