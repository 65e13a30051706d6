"""G.711 codecs work without audioop and match the standard's code points."""

from __future__ import annotations

import numpy as np

from kallglot.speech import g711
from kallglot.speech.audio import telephone_band


def test_mulaw_code_points_match_the_standard() -> None:
    samples = np.array([0, -1, 1, 32767, -32768], dtype=np.int16)
    assert g711.mulaw_encode(samples).hex() == "ff7fff8000"
    assert list(g711.mulaw_decode(bytes([0xFF, 0x7F, 0x80, 0x00]))) == [0, 0, 32124, -32124]


def test_alaw_code_points_match_the_standard() -> None:
    samples = np.array([0, -1, 1, 32767, -32768], dtype=np.int16)
    assert g711.alaw_encode(samples).hex() == "d555d5aa2a"
    assert list(g711.alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A]))) == [8, -8, 32256, -32256]


def test_round_trip_error_stays_within_the_companding_step() -> None:
    ramp = np.linspace(-32768, 32767, 65536).astype(np.int16)
    for encode, decode in (
        (g711.mulaw_encode, g711.mulaw_decode),
        (g711.alaw_encode, g711.alaw_decode),
    ):
        back = decode(encode(ramp)).astype(np.int32)
        error = np.abs(back - ramp.astype(np.int32))
        # the step grows with amplitude: at most 1/16 of the magnitude plus a small floor
        assert np.all(error <= np.abs(ramp.astype(np.int32)) // 16 + 64)


def test_encoding_accepts_bytes_and_keeps_one_byte_per_sample() -> None:
    pcm = np.arange(-160, 160, dtype=np.int16).tobytes()
    assert len(g711.mulaw_encode(pcm)) == 320
    assert len(g711.alaw_encode(pcm)) == 320


def test_telephone_band_keeps_length_and_removes_high_frequencies() -> None:
    rate = 16_000
    t = np.arange(rate) / rate
    high = (np.sin(2 * np.pi * 6000 * t) * 10000).astype(np.int16)
    low = (np.sin(2 * np.pi * 500 * t) * 10000).astype(np.int16)
    assert telephone_band(low).size == rate
    assert np.abs(telephone_band(high)).mean() < np.abs(high).mean() / 10
    assert np.abs(telephone_band(low)).mean() > np.abs(low).mean() / 2
