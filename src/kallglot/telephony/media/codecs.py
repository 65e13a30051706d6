"""Codecs of the phone and browser edges, each with its RTP payload name and clock rate.

G.711 reuses :mod:`kallglot.speech.g711`; Opus runs in FFmpeg's libopus through PyAV.
"""

from __future__ import annotations

from typing import Protocol

import av
import numpy as np

from kallglot.speech import g711
from kallglot.speech.g711 import Int16Array

OPUS_RATE = 48_000
OPUS_FRAME_SAMPLES = OPUS_RATE // 50


class Codec(Protocol):
    name: str
    clock_rate: int

    def encode(self, samples: Int16Array) -> bytes:
        """One 20 ms frame of int16 mono at ``clock_rate`` → payload."""
        ...

    def decode(self, payload: bytes) -> Int16Array:
        """Payload → int16 mono at ``clock_rate``."""
        ...


class Pcmu:
    name = "PCMU"
    clock_rate = 8000

    def encode(self, samples: Int16Array) -> bytes:
        return g711.mulaw_encode(samples)

    def decode(self, payload: bytes) -> Int16Array:
        return g711.mulaw_decode(payload)


class Pcma:
    name = "PCMA"
    clock_rate = 8000

    def encode(self, samples: Int16Array) -> bytes:
        return g711.alaw_encode(samples)

    def decode(self, payload: bytes) -> Int16Array:
        return g711.alaw_decode(payload)


class Opus:
    """Opus 48 kHz mono, 20 ms frames; encoder and decoder keep state (one per leg)."""

    name = "opus"
    clock_rate = OPUS_RATE

    def __init__(self, bitrate: int = 32_000) -> None:
        self._encoder = av.AudioCodecContext.create("libopus", "w")
        self._encoder.sample_rate = OPUS_RATE
        self._encoder.layout = "mono"
        self._encoder.format = "s16"
        self._encoder.bit_rate = bitrate
        self._encoder.open()
        self._decoder = av.AudioCodecContext.create("opus", "r")
        self._decoder.sample_rate = OPUS_RATE
        self._decoder.layout = "mono"
        self._decoder.open()
        self._pts = 0

    def encode(self, samples: Int16Array) -> bytes:
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1),
            format="s16",
            layout="mono",
        )
        frame.sample_rate = OPUS_RATE
        frame.pts = self._pts
        self._pts += frame.samples
        packets = self._encoder.encode(frame)
        return b"".join(bytes(packet) for packet in packets)

    def decode(self, payload: bytes) -> Int16Array:
        chunks = [
            frame.to_ndarray().reshape(-1) for frame in self._decoder.decode(av.Packet(payload))
        ]
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        pcm = np.concatenate(chunks)
        if pcm.dtype != np.int16:  # FFmpeg's opus decoder hands out float samples
            pcm = np.clip(pcm.astype(np.float32) * 32768.0, -32768, 32767)
        return np.asarray(pcm, dtype=np.int16)
