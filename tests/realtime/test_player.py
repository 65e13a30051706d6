"""Playback is paced in real time, and a clear (barge-in) drops everything stale."""

from __future__ import annotations

import asyncio
import time

from kallglot.realtime.player import BYTES_PER_SECOND, CHUNK_BYTES, OutputChunk, Player


async def test_audio_is_paced_not_burst() -> None:
    sent: list[float] = []
    all_sent = asyncio.Event()

    async def sink(chunk: OutputChunk) -> None:
        sent.append(time.monotonic())
        if len(sent) == 5:
            all_sent.set()

    player = Player(sink, lead_s=0.0)
    player.start()
    player.enqueue("utt_1", b"\x00" * CHUNK_BYTES * 5, player.generation)
    first = await player.wait_first_sent("utt_1", timeout_s=5)
    assert first is not None
    await asyncio.wait_for(all_sent.wait(), timeout=5)
    await player.stop()
    # Five 100 ms chunks take at least 400 ms to go out (first at once, then one per 100 ms).
    assert sent[-1] - sent[0] >= 0.35


async def test_clear_drops_queued_and_stale_audio() -> None:
    received: list[str] = []

    async def sink(chunk: OutputChunk) -> None:
        received.append(chunk.utterance_id)

    player = Player(sink, lead_s=0.0)
    player.start()
    stale_generation = player.generation
    player.enqueue("old", b"\x00" * BYTES_PER_SECOND * 3, stale_generation)
    await player.wait_first_sent("old", timeout_s=5)
    assert player.is_playing()
    player.clear()
    sent_at_clear = len(received)
    player.enqueue("old", b"\x00" * CHUNK_BYTES, stale_generation)  # late audio of the old turn
    player.enqueue("new", b"\x00" * CHUNK_BYTES, player.generation)
    await player.wait_first_sent("new", timeout_s=5)
    await asyncio.sleep(0.3)
    await player.stop()
    assert received[sent_at_clear:] == ["new"]
    assert received.count("old") <= 2
