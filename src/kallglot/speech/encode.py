"""Audio files out: mono 16-bit PCM to MP3, WAV or Ogg Vorbis, in memory.

libsndfile (through ``soundfile``, already how we read audio) writes all three; its wheel
bundles LAME for MP3 and libvorbis, so no other encoder is needed.
"""

from __future__ import annotations

import io
from typing import Literal

import soundfile  # type: ignore[import-untyped]

from kallglot.speech.audio import Int16Array

AudioFileFormat = Literal["mp3", "wav", "ogg"]

_WRITERS: dict[str, tuple[str, str]] = {
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "wav": ("WAV", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
}
MEDIA_TYPES: dict[str, str] = {"mp3": "audio/mpeg", "wav": "audio/wav", "ogg": "audio/ogg"}


def encode(samples: Int16Array, rate: int, file_format: AudioFileFormat) -> bytes:
    """``samples`` (mono, at ``rate`` Hz) as a whole file of ``file_format``."""
    container, subtype = _WRITERS[file_format]
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=container, subtype=subtype)
    return buffer.getvalue()
