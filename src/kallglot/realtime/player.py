"""Paced playback of translated speech to one listener, with barge-in.

Audio goes out at real time (plus a small lead so the far end never starves),
never in a burst: that keeps what is queued on our side, where barge-in can
still drop it. :meth:`Player.clear` drops everything not yet sent and every
chunk of an utterance that was started before the clear.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

SAMPLE_RATE = 16_000
BYTES_PER_SECOND = SAMPLE_RATE * 2
CHUNK_MS = 100
CHUNK_BYTES = BYTES_PER_SECOND * CHUNK_MS // 1000


@dataclass(frozen=True)
class OutputChunk:
    utterance_id: str
    pcm16k: bytes
    sequence: int
    generation: int


Sink = Callable[[OutputChunk], Awaitable[None]]


class Player:
    def __init__(self, sink: Sink, lead_s: float = 0.2) -> None:
        self._sink = sink
        self._lead_s = lead_s
        self._queue: asyncio.Queue[OutputChunk] = asyncio.Queue()
        self._generation = 0
        self._playhead = 0.0
        self._sequence = 0
        self._task: asyncio.Task[None] | None = None
        self._first_sent: dict[str, float] = {}
        self._first_sent_events: dict[str, asyncio.Event] = {}

    @property
    def generation(self) -> int:
        """Bumped by every clear; audio produced for an older generation is stale."""
        return self._generation

    def is_playing(self) -> bool:
        return not self._queue.empty() or self._playhead > time.monotonic()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kallglot-player")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def enqueue(self, utterance_id: str, pcm16k: bytes, generation: int) -> None:
        """Queue audio cut into paced chunks; stale (pre-clear) audio is dropped."""
        if generation != self._generation:
            return
        for start in range(0, len(pcm16k), CHUNK_BYTES):
            self._queue.put_nowait(
                OutputChunk(utterance_id, pcm16k[start : start + CHUNK_BYTES], 0, generation)
            )

    async def wait_first_sent(self, utterance_id: str, timeout_s: float) -> float | None:
        """When the utterance's first chunk went out (monotonic), or None if it never did."""
        sent = self._first_sent_events.setdefault(utterance_id, asyncio.Event())
        try:
            await asyncio.wait_for(sent.wait(), timeout_s)
        except TimeoutError:
            return None
        finally:
            self._first_sent_events.pop(utterance_id, None)
        return self._first_sent.pop(utterance_id, None)

    def clear(self) -> None:
        self._generation += 1
        while not self._queue.empty():
            self._queue.get_nowait()
        self._playhead = time.monotonic()
        for waiting in self._first_sent_events.values():
            waiting.set()

    async def _run(self) -> None:
        while True:
            chunk = await self._queue.get()
            if chunk.generation != self._generation:
                continue
            now = time.monotonic()
            self._playhead = max(self._playhead, now)
            wait = self._playhead - self._lead_s - now
            if wait > 0:
                await asyncio.sleep(wait)
                if chunk.generation != self._generation:
                    continue
            self._sequence += 1
            if chunk.utterance_id not in self._first_sent:
                self._first_sent[chunk.utterance_id] = time.monotonic()
                self._first_sent_events.setdefault(chunk.utterance_id, asyncio.Event()).set()
            await self._sink(
                OutputChunk(chunk.utterance_id, chunk.pcm16k, self._sequence, chunk.generation)
            )
            self._playhead += len(chunk.pcm16k) / BYTES_PER_SECOND
