"""The audio edge: codec and resampler fidelity, jitter buffer behaviour, real-time pacing."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest

from kallglot.speech.audio import decode_file, resample
from kallglot.speech.g711 import Int16Array
from kallglot.telephony.media import JitterBuffer, Opus, Pacer, Pcma, Pcmu, StreamResampler
from tests.conftest import FLEURS_DIR


def snr_db(reference: Int16Array, test: Int16Array) -> float:
    ref = reference.astype(np.float64)
    noise = ref - test.astype(np.float64)
    return float(10 * np.log10(np.sum(ref**2) / np.sum(noise**2)))


@pytest.fixture(scope="module")
def speech_8k() -> Int16Array:
    """Four seconds of recorded speech at 8 kHz, levelled to a -3 dBFS peak as a phone line is."""
    narrow = resample(decode_file(FLEURS_DIR / "fleurs-de-000.ogg")[: 4 * 16000], 16000, 8000)
    gain = 0.7 * 32767 / float(np.max(np.abs(narrow)))
    return (narrow.astype(np.float64) * gain).astype(np.int16)


@pytest.mark.parametrize("codec", [Pcmu(), Pcma()], ids=lambda c: c.name)
def test_g711_round_trip_keeps_speech_above_35_db(
    codec: Pcmu | Pcma, speech_8k: Int16Array
) -> None:
    back = np.concatenate(
        [codec.decode(codec.encode(speech_8k[i : i + 160])) for i in range(0, len(speech_8k), 160)]
    )
    assert snr_db(speech_8k, back) >= 35


def test_streaming_resampler_round_trip_keeps_speech_above_35_db(speech_8k: Int16Array) -> None:
    up, down = StreamResampler(8000, 48000), StreamResampler(48000, 8000)
    out = []
    for i in range(0, len(speech_8k), 160):  # 20 ms chunks, state carried across them
        out.append(down.process(up.process(speech_8k[i : i + 160])))
    out.append(down.process(up.flush()))
    out.append(down.flush())
    back = np.concatenate(out)
    # the two filters delay the signal; align on the cross-correlation peak
    delay = int(np.argmax(np.correlate(back[:4000].astype(float), speech_8k[:2000].astype(float))))
    aligned = back[delay : delay + len(speech_8k)]
    assert len(aligned) >= len(speech_8k) - 2
    assert snr_db(speech_8k[: len(aligned)], aligned) >= 35


def test_opus_carries_a_tone_at_48_khz() -> None:
    codec = Opus()
    t = np.arange(48000) / 48000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    packets = [codec.encode(tone[i : i + 960]) for i in range(0, len(tone), 960)]
    assert all(0 < len(p) < 400 for p in packets[1:])  # compressed: 20 ms of PCM is 1920 bytes
    decoded = np.concatenate([codec.decode(p) for p in packets if p])
    spectrum = np.abs(np.fft.rfft(decoded[9600:].astype(float)))
    peak_hz = np.argmax(spectrum) * 48000 / len(decoded[9600:])
    assert abs(peak_hz - 440) < 5


def frames(buffer: JitterBuffer, ticks: int) -> list[int | None]:
    """Sequence numbers played per tick (None when lost), skipping rebuffering ticks."""
    out: list[int | None] = []
    for _ in range(ticks):
        played = buffer.pop()
        if played is not None:
            out.append(played.sequence if played.payload is not None else None)
    return out


def test_jitter_buffer_reorders_and_drops_duplicates() -> None:
    buffer = JitterBuffer(min_frames=3, max_frames=10)
    for i, seq in enumerate([1, 3, 2, 2, 4, 6, 5]):
        buffer.push(seq, bytes([seq]), i * 0.02)
    assert frames(buffer, 6) == [1, 2, 3, 4, 5, 6]
    assert buffer.stats.duplicates == 1
    assert buffer.stats.lost == 0


def test_jitter_buffer_conceals_losses_and_refuses_late_packets() -> None:
    buffer = JitterBuffer(min_frames=2, max_frames=10)
    for seq in (10, 11, 13, 14):
        buffer.push(seq, b"x", seq * 0.02)
    assert frames(buffer, 4) == [10, 11, None, 13]
    buffer.push(12, b"late", 0.5)  # its slot was already concealed
    assert frames(buffer, 1) == [14]
    assert buffer.stats.lost == 1
    assert buffer.stats.late == 1


def test_jitter_buffer_survives_sequence_wrap_around() -> None:
    buffer = JitterBuffer(min_frames=2, max_frames=10)
    for i, seq in enumerate([65534, 0, 65535, 1]):
        buffer.push(seq, b"x", i * 0.02)
    assert frames(buffer, 4) == [65534, 65535, 0, 1]


def test_jitter_buffer_bounds_its_delay() -> None:
    buffer = JitterBuffer(min_frames=2, max_frames=5)
    for seq in range(20):
        buffer.push(seq, b"x", 0.0)  # a burst: 400 ms arriving at once
    assert buffer.depth == 5
    assert buffer.stats.overflow == 15
    assert frames(buffer, 5) == [15, 16, 17, 18, 19]


def test_jitter_buffer_grows_its_target_with_jitter() -> None:
    steady, jittery = JitterBuffer(), JitterBuffer()
    rng = np.random.default_rng(7)
    for seq in range(200):
        steady.push(seq, b"x", seq * 0.02)
        jittery.push(seq, b"x", seq * 0.02 + float(rng.uniform(0, 0.08)))
        steady.pop()
        jittery.pop()
    assert steady.target_frames == steady.min_frames
    assert jittery.target_frames > steady.target_frames
    assert jittery.target_frames <= jittery.max_frames


async def test_pacer_sends_at_real_time_and_clears_on_barge_in() -> None:
    sent: list[tuple[float, bytes]] = []
    loop = asyncio.get_running_loop()

    async def send(frame: bytes) -> None:
        sent.append((loop.time(), frame))

    pacer = Pacer(send)
    pacer.start()
    try:
        for i in range(10):
            pacer.push(bytes([i]))
        marked = asyncio.Event()

        async def mark() -> None:
            marked.set()

        pacer.after_queued(mark)
        await asyncio.wait_for(marked.wait(), timeout=5)
        span = sent[-1][0] - sent[0][0]
        assert span >= 0.17  # ten frames take nine intervals of 20 ms: never a burst
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(sent)]
        assert min(gaps) >= 0.015
        for i in range(50):
            pacer.push(bytes([i]))
        await asyncio.sleep(0.05)
        assert pacer.clear() > 0
        assert pacer.queued == 0
    finally:
        await pacer.stop()


def test_the_jitter_buffer_drains_what_it_holds_in_order_with_gaps_as_lost() -> None:
    buffer = JitterBuffer(min_frames=3)
    for seq, at in ((7, 0.0), (5, 0.01), (9, 0.02)):
        buffer.push(seq, bytes([seq]), at)
    drained = buffer.drain()
    assert [(p.sequence, p.payload) for p in drained] == [
        (5, b"\x05"),
        (6, None),
        (7, b"\x07"),
        (8, None),
        (9, b"\x09"),
    ]
    assert buffer.stats.lost == 2
    assert buffer.depth == 0
    buffer.push(8, b"late", 0.03)  # behind what was played: dropped as late
    assert buffer.stats.late == 1 and buffer.drain() == []
