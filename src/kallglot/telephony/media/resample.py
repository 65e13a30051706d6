"""Streaming resampling per call leg (soxr keeps the filter state between chunks)."""

from __future__ import annotations

import numpy as np
import soxr  # type: ignore[import-untyped]

from kallglot.speech.g711 import Int16Array


class StreamResampler:
    """int16 mono from ``src_rate`` to ``dst_rate``, chunk by chunk, without edge clicks."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._stream = soxr.ResampleStream(src_rate, dst_rate, 1, dtype="int16", quality="HQ")

    def process(self, samples: Int16Array) -> Int16Array:
        out = self._stream.resample_chunk(samples)
        return np.asarray(out, dtype=np.int16).reshape(-1)

    def flush(self) -> Int16Array:
        """What the filter still holds (call once at the end of the leg)."""
        out = self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        return np.asarray(out, dtype=np.int16).reshape(-1)
