"""Call recordings, kept only when the session asks for them.

Each party's leg is one track, as a telephone line would record it: what that party said
and the translated speech played to them, on one timeline. The mixed recording is both legs
together. Audio stays in memory, at 8 kHz (the telephone band it came from), and is written
once, encrypted, when the call ends; without recording nothing is kept at all.
"""

from __future__ import annotations

import time

import numpy as np
import soxr  # type: ignore[import-untyped]

from kallglot.realtime.protocol import public_party
from kallglot.speech.audio import SAMPLE_RATE

RECORDING_RATE = 8000
MAX_SECONDS = 4 * 3600
PARTIES = ("agent", "customer")
MIXED = "mixed"


class Recorder:
    ORIGINAL, TRANSLATED = 0, 1

    def __init__(self, max_seconds: int = MAX_SECONDS) -> None:
        self._started = time.monotonic()
        self._capacity = max_seconds * RECORDING_RATE
        self._tracks = {party: np.zeros(0, dtype=np.int16) for party in PARTIES}
        # One resampler per source: said and heard audio of a party are separate streams.
        self._down = {
            (kind, party): soxr.ResampleStream(SAMPLE_RATE, RECORDING_RATE, 1, dtype="int16")
            for kind in (self.ORIGINAL, self.TRANSLATED)
            for party in PARTIES
        }

    def add(self, kind: int, party: str, pcm16k: bytes) -> None:
        """Mix 16 kHz audio said by (``ORIGINAL``) or played to (``TRANSLATED``) ``party``
        into that party's track at the current moment of the call."""
        party = public_party(party)
        narrow = np.asarray(
            self._down[kind, party].resample_chunk(np.frombuffer(pcm16k, dtype="<i2")), np.int16
        )
        offset = int((time.monotonic() - self._started) * RECORDING_RATE)
        end = min(offset + narrow.size, self._capacity)
        if end <= offset:
            return
        track = self._tracks[party]
        if track.size < end:
            track = np.concatenate([track, np.zeros(end - track.size, dtype=np.int16)])
        mixed = track[offset:end].astype(np.int32) + narrow[: end - offset]
        track[offset:end] = np.clip(mixed, -32768, 32767).astype(np.int16)
        self._tracks[party] = track

    @property
    def seconds(self) -> float:
        return max(track.size for track in self._tracks.values()) / RECORDING_RATE

    def tracks(self) -> dict[str, np.ndarray]:
        """``agent``, ``customer`` and ``mixed``: mono 16-bit PCM at 8 kHz, of equal length."""
        length = max(track.size for track in self._tracks.values())
        padded = {
            party: np.pad(track, (0, length - track.size)) for party, track in self._tracks.items()
        }
        both = sum(
            (track.astype(np.int32) for track in padded.values()), np.zeros(length, np.int32)
        )
        return {**padded, MIXED: np.clip(both, -32768, 32767).astype(np.int16)}
