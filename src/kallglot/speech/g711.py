"""G.711 mu-law and A-law codecs with numpy lookup tables (no ``audioop``, gone in 3.13)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Int16Array = npt.NDArray[np.int16]

_MULAW_BIAS = 0x84
_MULAW_CLIP = 32635


def _mulaw_decode_table() -> Int16Array:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _MULAW_BIAS) << exponent) - _MULAW_BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _mulaw_encode_sample(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), _MULAW_CLIP) + _MULAW_BIAS
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not magnitude & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _alaw_decode_table() -> Int16Array:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


def _alaw_encode_sample(sample: int) -> int:
    sign = 0x80 if sample >= 0 else 0
    magnitude = min(abs(sample) if sample >= 0 else -sample - 1, 32767) >> 3
    if magnitude < 32:
        code = magnitude >> 1
    else:
        exponent = 1
        while magnitude >= 64 and exponent < 7:
            magnitude >>= 1
            exponent += 1
        code = (exponent << 4) | ((magnitude >> 1) & 0x0F)
    return (sign | code) ^ 0x55


# Encoding tables indexed by the 16-bit sample + 32768: 64 KiB each, built once.
_SAMPLES = range(-32768, 32768)
_MULAW_ENCODE = np.array([_mulaw_encode_sample(s) for s in _SAMPLES], dtype=np.uint8)
_ALAW_ENCODE = np.array([_alaw_encode_sample(s) for s in _SAMPLES], dtype=np.uint8)
_MULAW_DECODE = _mulaw_decode_table()
_ALAW_DECODE = _alaw_decode_table()


def _as_int16(pcm: bytes | Int16Array) -> Int16Array:
    if isinstance(pcm, bytes | bytearray | memoryview):
        return np.frombuffer(pcm, dtype="<i2").astype(np.int16)
    return pcm.astype(np.int16, copy=False)


def mulaw_encode(pcm: bytes | Int16Array) -> bytes:
    """16-bit linear PCM → G.711 mu-law bytes (one byte a sample)."""
    samples = _as_int16(pcm).astype(np.int32) + 32768
    return bytes(_MULAW_ENCODE[samples].tobytes())


def mulaw_decode(data: bytes) -> Int16Array:
    """G.711 mu-law bytes → 16-bit linear PCM samples."""
    return _MULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def alaw_encode(pcm: bytes | Int16Array) -> bytes:
    """16-bit linear PCM → G.711 A-law bytes."""
    samples = _as_int16(pcm).astype(np.int32) + 32768
    return bytes(_ALAW_ENCODE[samples].tobytes())


def alaw_decode(data: bytes) -> Int16Array:
    """G.711 A-law bytes → 16-bit linear PCM samples."""
    return _ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]
