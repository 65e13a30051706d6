"""Audio in the form the pipeline uses: 16-bit PCM, mono, 16 kHz, 20 ms frames.

Decoding of files (WAV, OGG/Opus, MP3, FLAC) goes through libsndfile (``soundfile``)
with PyAV as the fallback; resampling goes through soxr.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile  # type: ignore[import-untyped]
import soxr  # type: ignore[import-untyped]

from kallglot.speech import g711
from kallglot.speech.errors import AudioDecodeError, AudioTooLongError

SAMPLE_RATE = 16_000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2
TELEPHONE_RATE = 8_000

Int16Array = npt.NDArray[np.int16]
Float32Array = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """20 ms of 16-bit little-endian mono PCM at 16 kHz; ``start_ms`` is stream time."""

    pcm: bytes
    start_ms: int

    @property
    def samples(self) -> Int16Array:
        return np.frombuffer(self.pcm, dtype="<i2").astype(np.int16)

    @property
    def end_ms(self) -> int:
        return self.start_ms + len(self.pcm) * 1000 // (2 * SAMPLE_RATE)


def to_float(samples: Int16Array) -> Float32Array:
    """int16 → float32 in [-1, 1)."""
    return (samples.astype(np.float32) / 32768.0).astype(np.float32)


def to_int16(samples: Float32Array) -> Int16Array:
    """float in [-1, 1] → int16, clipped."""
    clipped = np.clip(samples.astype(np.float32), -1.0, 32767 / 32768)
    return np.asarray(clipped * np.float32(32768.0), dtype=np.int16)


def resample(samples: Int16Array, src_rate: int, dst_rate: int) -> Int16Array:
    """Resample int16 mono with soxr (high quality); a no-op when the rates match."""
    if src_rate <= 0 or dst_rate <= 0:
        raise AudioDecodeError(f"invalid sample rate {src_rate} → {dst_rate}")
    if src_rate == dst_rate or samples.size == 0:
        return samples.astype(np.int16, copy=False)
    out = soxr.resample(samples.astype(np.int16), src_rate, dst_rate, quality="HQ")
    return np.asarray(out, dtype=np.int16)


def frames(samples: Int16Array, *, start_ms: int = 0) -> Iterator[AudioFrame]:
    """Cut 16 kHz samples into 20 ms frames; the last one is zero-padded."""
    data = samples.astype("<i2").tobytes()
    for offset in range(0, len(data), FRAME_BYTES):
        chunk = data[offset : offset + FRAME_BYTES]
        if len(chunk) < FRAME_BYTES:
            chunk = chunk + b"\x00" * (FRAME_BYTES - len(chunk))
        yield AudioFrame(pcm=chunk, start_ms=start_ms + (offset // FRAME_BYTES) * FRAME_MS)


def telephone_band(samples: Int16Array, rate: int = SAMPLE_RATE) -> Int16Array:
    """What a phone line does to speech: down to 8 kHz, G.711 mu-law, and back up."""
    narrow = resample(samples, rate, TELEPHONE_RATE)
    return resample(g711.mulaw_decode(g711.mulaw_encode(narrow)), TELEPHONE_RATE, rate)


def _mono_float(data: npt.NDArray[np.float32]) -> Float32Array:
    if data.ndim == 2:
        data = data.mean(axis=1)
    return np.asarray(data, dtype=np.float32)


def _decode_soundfile(source: io.BytesIO) -> tuple[Float32Array, int]:
    data, rate = soundfile.read(source, dtype="float32", always_2d=False)
    return _mono_float(data), int(rate)


def _decode_pyav(raw: bytes) -> tuple[Float32Array, int]:
    import av  # imported here: only needed for formats libsndfile does not read

    chunks: list[Float32Array] = []
    try:
        with av.open(io.BytesIO(raw), mode="r") as container:
            if not container.streams.audio:
                raise AudioDecodeError("the file holds no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1).astype(np.float32))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1).astype(np.float32))
    except av.FFmpegError as exc:
        raise AudioDecodeError(f"cannot decode audio: {type(exc).__name__}") from exc
    if not chunks:
        return np.zeros(0, dtype=np.float32), SAMPLE_RATE
    return np.concatenate(chunks), SAMPLE_RATE


def decode_bytes(raw: bytes, *, max_seconds: float | None = None) -> Int16Array:
    """Decode WAV/OGG/MP3/FLAC bytes to 16 kHz mono int16.

    Raises ``AudioDecodeError`` for empty or undecodable input and ``AudioTooLongError``
    past ``max_seconds``. Silence decodes fine (it is audio).
    """
    if not raw:
        raise AudioDecodeError("the audio is empty (0 bytes)")
    try:
        data, rate = _decode_soundfile(io.BytesIO(raw))
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError):
        data, rate = _decode_pyav(raw)
    if data.size == 0:
        raise AudioDecodeError("the audio holds no samples")
    if not np.all(np.isfinite(data)):
        raise AudioDecodeError("the audio holds invalid (non-finite) samples")
    seconds = data.size / rate
    if max_seconds is not None and seconds > max_seconds:
        raise AudioTooLongError(
            f"the audio is {seconds:.0f} s long; the limit is {max_seconds:.0f} s"
        )
    return resample(to_int16(data), rate, SAMPLE_RATE)


def decode_file(path: Path, *, max_seconds: float | None = None) -> Int16Array:
    """Read and decode an audio file (see ``decode_bytes``)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AudioDecodeError(f"cannot read {path.name}: {exc.strerror}") from exc
    return decode_bytes(raw, max_seconds=max_seconds)


def pcm_from_bytes(pcm: bytes, sample_rate: int) -> Int16Array:
    """Raw 16-bit little-endian mono PCM at ``sample_rate`` → 16 kHz samples."""
    if len(pcm) % 2:
        raise AudioDecodeError("raw PCM must hold whole 16-bit samples")
    return resample(np.frombuffer(pcm, dtype="<i2").astype(np.int16), sample_rate, SAMPLE_RATE)


def wav_bytes(samples: Int16Array, rate: int = SAMPLE_RATE) -> bytes:
    """A mono 16-bit WAV file in memory."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def duration_s(samples: Int16Array, rate: int = SAMPLE_RATE) -> float:
    return float(samples.size) / rate
