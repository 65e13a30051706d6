"""Decoding, resampling and framing: every supported format, and bad input that gets
a clear error rather than a crash."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile

from kallglot.speech import audio
from kallglot.speech.errors import AudioDecodeError, AudioTooLongError
from tests.speech.conftest import clip, clip_path, tone


def _encode(samples: np.ndarray, rate: int, fmt: str, subtype: str, channels: int = 1) -> bytes:
    data = np.stack([samples] * channels, axis=1) if channels > 1 else samples
    buffer = io.BytesIO()
    soundfile.write(buffer, data, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def test_the_shared_ogg_opus_clips_decode_to_16khz_mono() -> None:
    samples = audio.decode_file(clip_path("en", 0))
    assert samples.dtype == np.int16
    assert 10 < audio.duration_s(samples) < 11


@pytest.mark.parametrize(
    ("fmt", "subtype"), [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("MP3", "MPEG_LAYER_III")]
)
def test_wav_flac_and_mp3_decode(fmt: str, subtype: str) -> None:
    source = tone(1.0)
    decoded = audio.decode_bytes(_encode(source, 16_000, fmt, subtype))
    assert abs(decoded.size - 16_000) < 1600  # MP3 adds encoder padding
    assert np.abs(decoded).max() > 4000


def test_other_sample_rates_and_stereo_are_converted() -> None:
    raw = _encode(tone(2.0, rate=44_100), 44_100, "WAV", "PCM_16", channels=2)
    decoded = audio.decode_bytes(raw)
    assert decoded.size == 32_000
    narrow = audio.decode_bytes(_encode(tone(1.0, rate=8_000), 8_000, "WAV", "PCM_16"))
    assert narrow.size == 16_000


def test_raw_pcm_at_the_wrong_rate_is_resampled() -> None:
    pcm = tone(1.0, rate=8_000).tobytes()
    assert audio.pcm_from_bytes(pcm, 8_000).size == 16_000
    with pytest.raises(AudioDecodeError):
        audio.pcm_from_bytes(b"\x00\x01\x02", 16_000)


@pytest.mark.parametrize(
    "raw", [b"", b"not audio at all" * 64, b"RIFF\x00\x00\x00\x00WAVE", b"\x00" * 4096]
)
def test_empty_or_corrupt_bytes_get_a_clear_error(raw: bytes) -> None:
    with pytest.raises(AudioDecodeError) as caught:
        audio.decode_bytes(raw)
    assert caught.value.message


def test_truncated_file_gets_a_clear_error_or_its_readable_part() -> None:
    raw = clip_path("es", 0).read_bytes()
    try:
        samples = audio.decode_bytes(raw[: len(raw) // 3])
    except AudioDecodeError:
        return
    assert 0 < samples.size < clip("es", 0).size


def test_audio_past_the_limit_is_refused() -> None:
    raw = _encode(tone(3.0), 16_000, "WAV", "PCM_16")
    with pytest.raises(AudioTooLongError, match="limit is 2 s"):
        audio.decode_bytes(raw, max_seconds=2)


def test_missing_file_is_a_decode_error(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError, match="cannot read"):
        audio.decode_file(tmp_path / "absent.wav")


def test_frames_are_20ms_with_stream_timestamps() -> None:
    framed = list(audio.frames(tone(0.05)))
    assert [f.start_ms for f in framed] == [0, 20, 40]
    assert all(len(f.pcm) == audio.FRAME_BYTES for f in framed)
    assert framed[-1].end_ms == 60


def test_wav_bytes_round_trip() -> None:
    samples = tone(0.5)
    assert np.array_equal(audio.decode_bytes(audio.wav_bytes(samples)), samples)
