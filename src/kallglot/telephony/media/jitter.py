"""Adaptive jitter buffer for inbound RTP: reorders, drops duplicates and late packets,
marks losses for concealment, and bounds the delay it adds.

One packet carries one 20 ms frame. The playout side pops one frame per 20 ms
tick; the buffer holds back ``target`` frames, where ``target`` follows the
interarrival jitter estimate of RFC 3550 §6.4.1 (three times the jitter, within
``min_frames``..``max_frames``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FRAME_S = 0.02
_SEQ_MOD = 1 << 16


@dataclass
class JitterStats:
    received: int = 0
    duplicates: int = 0
    late: int = 0
    lost: int = 0
    overflow: int = 0
    underruns: int = 0


@dataclass(frozen=True)
class Played:
    """One tick of playout: the frame's payload, or ``None`` when it was lost (conceal it)."""

    sequence: int
    payload: bytes | None


class JitterBuffer:
    def __init__(self, min_frames: int = 2, max_frames: int = 10) -> None:
        if not 1 <= min_frames <= max_frames:
            raise ValueError("need 1 <= min_frames <= max_frames")
        self.min_frames = min_frames
        self.max_frames = max_frames
        self.stats = JitterStats()
        self.jitter_s = 0.0
        self._frames: dict[int, bytes] = {}
        self._highest: int | None = None
        self._next: int | None = None
        self._playing = False
        self._transit: float | None = None

    @property
    def target_frames(self) -> int:
        wanted = math.ceil(3 * self.jitter_s / FRAME_S) + 1
        return max(self.min_frames, min(self.max_frames, wanted))

    @property
    def depth(self) -> int:
        return len(self._frames)

    def _extend(self, seq: int) -> int:
        """A 16-bit RTP sequence number as a monotonic integer (wrap-around safe)."""
        if self._highest is None:
            return seq
        base = self._highest - (self._highest % _SEQ_MOD)
        candidates = (base - _SEQ_MOD + seq, base + seq, base + _SEQ_MOD + seq)
        return min(candidates, key=lambda c: abs(c - self._highest))  # type: ignore[operator]

    def push(self, seq: int, payload: bytes, arrival_s: float) -> None:
        """Add a packet (``seq`` is the RTP sequence number, ``arrival_s`` a monotonic time)."""
        extended = self._extend(seq & 0xFFFF)
        self.stats.received += 1
        if self._next is not None and extended < self._next:
            self.stats.late += 1
            return
        if extended in self._frames:
            self.stats.duplicates += 1
            return
        self._update_jitter(extended, arrival_s)
        self._frames[extended] = payload
        if self._highest is None or extended > self._highest:
            self._highest = extended
        while len(self._frames) > self.max_frames:  # bound the delay: skip the oldest
            oldest = min(self._frames)
            del self._frames[oldest]
            self.stats.overflow += 1
            self._next = oldest + 1

    def _update_jitter(self, extended: int, arrival_s: float) -> None:
        transit = arrival_s - extended * FRAME_S
        if self._transit is not None:
            self.jitter_s += (abs(transit - self._transit) - self.jitter_s) / 16
        self._transit = transit

    def pop(self) -> Played | None:
        """The next 20 ms of playout, or ``None`` while (re)buffering."""
        if not self._playing:
            if len(self._frames) < self.target_frames:
                return None
            self._playing = True
            if self._next is None or self._next < min(self._frames):
                self._next = min(self._frames)
        if not self._frames:
            self._playing = False  # underrun: buffer up to the target again
            self.stats.underruns += 1
            return None
        assert self._next is not None
        sequence = self._next
        self._next += 1
        payload = self._frames.pop(sequence, None)
        if payload is None:
            self.stats.lost += 1
        return Played(sequence & 0xFFFF, payload)

    def drain(self) -> list[Played]:
        """Everything still held, in order, gaps as lost frames: the stream has ended."""
        if not self._frames:
            return []
        first = min(self._frames)
        if self._next is not None and self._next < first:
            first = self._next
        last = max(self._frames)
        played = []
        for sequence in range(first, last + 1):
            payload = self._frames.pop(sequence, None)
            if payload is None:
                self.stats.lost += 1
            played.append(Played(sequence & 0xFFFF, payload))
        self._next = last + 1
        self._playing = False
        return played
