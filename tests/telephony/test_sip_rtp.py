"""One call's RTP on real loopback sockets: the caller's audio in through the jitter buffer,
translated speech out at real time, barge-in, RFC 4733 DTMF, and Opus."""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections.abc import AsyncIterator
from typing import cast

import numpy as np
import pytest

from kallglot.speech import g711
from kallglot.telephony.media import Opus
from kallglot.telephony.sip.rtp import RtpPacket, RtpStream, build_rtp, parse_rtp
from kallglot.telephony.sip.sdp import Negotiated
from tests.support.waiting import until

pytestmark = pytest.mark.timeout(60)


class Phone(asyncio.DatagramProtocol):
    """The far end: records what arrives, with the time it arrived."""

    def __init__(self) -> None:
        self.packets: list[tuple[float, RtpPacket]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        packet = parse_rtp(data)
        assert packet is not None
        self.packets.append((asyncio.get_running_loop().time(), packet))

    @property
    def port(self) -> int:
        assert self.transport is not None
        port: int = self.transport.get_extra_info("sockname")[1]
        return port


@pytest.fixture
async def phone() -> AsyncIterator[Phone]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Phone, local_addr=("127.0.0.1", 0))
    yield protocol
    transport.close()


def tone(seconds: float, rate: int, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)


def negotiated(
    phone: Phone, codec: str = "PCMU", payload_type: int = 0, rate: int = 8000
) -> Negotiated:
    return Negotiated(payload_type, codec, rate, 101, "127.0.0.1", phone.port, "sendrecv")


async def test_inbound_audio_is_reordered_decoded_and_delivered_at_16_khz(phone: Phone) -> None:
    stream = await RtpStream.bind("127.0.0.1", 41000, 41999)
    heard: list[bytes] = []
    digits: list[tuple[str, int]] = []

    async def on_audio(pcm: bytes) -> None:
        heard.append(pcm)

    async def on_dtmf(digit: str, duration_ms: int) -> None:
        digits.append((digit, duration_ms))

    stream.start(negotiated(phone), on_audio, on_dtmf)
    try:
        mulaw = g711.mulaw_encode(tone(1.0, 8000))
        frames = [mulaw[i : i + 160] for i in range(0, len(mulaw), 160)]
        order = list(range(len(frames)))
        for i in range(0, len(order) - 1, 7):  # every 7th pair swapped in flight
            order[i], order[i + 1] = order[i + 1], order[i]
        assert phone.transport is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        for slot, index in enumerate(order):  # one packet every 20 ms, on a fixed schedule
            packet = RtpPacket(0, index == 0, 500 + index, index * 160, 7, frames[index])
            phone.transport.sendto(build_rtp(packet), ("127.0.0.1", stream.port))
            await asyncio.sleep(max(0.0, start + (slot + 1) * 0.02 - loop.time()))
        for flags in (0, 0x80, 0x80, 0x80):  # key "#" (event 11), 100 ms, end repeated
            payload = struct.pack("!BBH", 11, flags | 10, 800)
            header = struct.pack("!BBHII", 0x80, 101, 700, 9000, 7)
            phone.transport.sendto(header + payload, ("127.0.0.1", stream.port))
        # The key press, and the jitter buffer played out (all but what its phase may lose).
        await until(
            lambda: digits and sum(map(len, heard)) >= 2 * 0.85 * 16000,
            "the key press or the audio was not delivered",
            within=20,
        )
    finally:
        await stream.close()
    pcm = np.frombuffer(b"".join(heard), dtype="<i2")
    assert 0.85 * 16000 <= pcm.size <= 1.0 * 16000
    # the buffer absorbed the swaps (at most a frame lost to the two clocks' phase)
    assert stream.jitter.stats.received == 50
    assert stream.jitter.stats.lost + stream.jitter.stats.late <= 3  # 7 swaps, mostly absorbed
    # a clean 440 Hz tone came through: most energy near 440 Hz
    spectrum = np.abs(np.fft.rfft(pcm[2000:14000].astype(np.float64)))
    assert abs(np.argmax(spectrum) * 16000 / 12000 - 440) < 10
    assert digits == [("#", 100)]
    assert stream.closed


async def test_outbound_speech_is_paced_at_real_time_and_barge_in_drops_the_rest(
    phone: Phone,
) -> None:
    stream = await RtpStream.bind("127.0.0.1", 41000, 41999)

    async def ignore(*_: object) -> None:
        return None

    stream.start(negotiated(phone), ignore, ignore)
    try:
        stream.play(tone(2.0, 16000).astype("<i2").tobytes())
        pushed = stream.queued  # nothing has been sent yet: play() does not yield
        await until(lambda: len(phone.packets) >= 15, "no speech went out", within=20)
        dropped = stream.clear()
        assert dropped > 0 and stream.queued == 0
        # What follows the barge-in: a short silence, recognisable by its payload.
        stream.play(bytes(2 * 8000))
        await until(
            lambda: _first_silence(phone) is not None, "nothing was sent after the clear", within=20
        )
    finally:
        await stream.close()
    boundary = _first_silence(phone)
    # Every queued frame was either sent before the clear or dropped by it: none of the
    # dropped speech (nor the resampler's tail of it) went out later.
    assert boundary == pushed - dropped
    times = [t for t, _ in phone.packets[:boundary]]
    # Paced, not a burst: a busy machine can only make the gaps longer.
    assert float(np.median(np.diff(times))) > 0.015
    assert times[14] - times[0] >= 14 * 0.015
    sequences = [p.sequence for _, p in phone.packets]
    stamps = [p.timestamp for _, p in phone.packets]
    assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(sequences))
    assert all((b - a) % 2**32 == 160 for a, b in itertools.pairwise(stamps))
    assert phone.packets[0][1].marker and not phone.packets[1][1].marker


def _first_silence(phone: Phone) -> int | None:
    def quiet(payload: bytes) -> bool:
        return int(np.abs(g711.mulaw_decode(payload).astype(np.int32)).max()) < 100

    return next((i for i, (_, p) in enumerate(phone.packets) if quiet(p.payload)), None)


async def test_opus_frames_go_out_at_48_khz_and_decode(phone: Phone) -> None:
    stream = await RtpStream.bind("127.0.0.1", 41000, 41999)

    async def ignore(*_: object) -> None:
        return None

    stream.start(negotiated(phone, "opus", 111, 48000), ignore, ignore)
    try:
        stream.play(tone(0.4, 16000).astype("<i2").tobytes())
        await until(lambda: len(phone.packets) >= 15, "the speech did not go out", within=20)
    finally:
        await stream.close()
    assert len(phone.packets) >= 15
    packets = [p for _, p in phone.packets]
    assert all(p.payload_type == 111 for p in packets)
    assert (packets[1].timestamp - packets[0].timestamp) % 2**32 == 960
    decoder = Opus()
    decoded = np.concatenate([decoder.decode(p.payload) for p in packets])
    assert decoded.size >= 15 * 960 and np.abs(decoded).max() > 2000


async def test_a_port_range_without_a_free_port_is_reported(phone: Phone) -> None:
    from kallglot.telephony.sip.rtp import RtpPortsExhausted

    taken = await RtpStream.bind("127.0.0.1", 41000, 41999)
    try:
        with pytest.raises(RtpPortsExhausted):
            await RtpStream.bind("127.0.0.1", taken.port, taken.port + 1)
    finally:
        await taken.close()
