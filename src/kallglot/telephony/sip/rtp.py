"""RTP for one call (RFC 3550) over asyncio UDP: the caller's audio in through the jitter
buffer, translated speech out through the 20 ms pacer, RFC 4733 DTMF events in.

Inbound frames are decoded, resampled to 16 kHz and handed on every 20 ms playout tick;
outbound 16 kHz PCM is resampled to the codec's rate, cut into 20 ms frames and paced.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import socket
import struct
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import numpy as np

from kallglot.speech.audio import SAMPLE_RATE
from kallglot.telephony.media import Codec, JitterBuffer, Pacer, StreamResampler
from kallglot.telephony.media.pacer import FRAME_S
from kallglot.telephony.sip.sdp import Negotiated

logger = logging.getLogger(__name__)

RTP_VERSION = 2
HEADER = struct.Struct("!BBHII")
DTMF_EVENTS = "0123456789*#ABCD"

OnAudio = Callable[[bytes], Awaitable[None]]
OnDtmf = Callable[[str, int], Coroutine[Any, Any, None]]


class RtpPortsExhausted(RuntimeError):
    """Every port of the configured RTP range is taken (SIP answers 503)."""


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket | None:
    """The packet, or ``None`` for anything that is not RTP version 2 (e.g. RTCP, junk)."""
    if len(data) < HEADER.size:
        return None
    first, second, sequence, timestamp, ssrc = HEADER.unpack_from(data)
    if first >> 6 != RTP_VERSION or 72 <= (second & 0x7F) <= 76:  # 72-76: RTCP on our port
        return None
    offset = HEADER.size + 4 * (first & 0x0F)
    if first & 0x10:  # header extension: 16-bit profile, 16-bit length in words
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    end = len(data)
    if first & 0x20:  # padding: the last byte says how much
        end -= data[-1]
    if offset > end:
        return None
    return RtpPacket(
        second & 0x7F, bool(second & 0x80), sequence, timestamp, ssrc, data[offset:end]
    )


def build_rtp(packet: RtpPacket) -> bytes:
    second = (0x80 if packet.marker else 0) | packet.payload_type
    header = HEADER.pack(RTP_VERSION << 6, second, packet.sequence, packet.timestamp, packet.ssrc)
    return header + packet.payload


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.stream: RtpStream | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        if self.stream is not None:
            self.stream.received(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable after the peer went away: nothing to do, BYE ends the call.
        logger.debug("RTP socket error: %s", exc)


class RtpStream:
    """One call's media socket. Create with :meth:`bind`, then :meth:`start`."""

    def __init__(self, transport: asyncio.DatagramTransport, port: int) -> None:
        self.transport = transport
        self.port = port
        self.negotiated: Negotiated | None = None
        self.jitter = JitterBuffer()
        self.dtmf_received: list[str] = []
        self.packets_sent = 0  # translated speech
        self.silence_sent = 0  # silence while there was none (``silence_when_idle``)
        self._remote: tuple[str, int] | None = None
        self._on_audio: OnAudio | None = None
        self._on_dtmf: OnDtmf | None = None
        self._decode_resampler: StreamResampler | None = None
        self._encode_resampler: StreamResampler | None = None
        self._pending = np.zeros(0, dtype=np.int16)
        self._pacer = Pacer(self._send_frame)
        self._playout: asyncio.Task[None] | None = None
        self._ssrc = secrets.randbits(32)
        self._sequence = secrets.randbits(16)
        self._timestamp = secrets.randbits(32)
        self._last_dtmf_timestamp: int | None = None
        self._talkspurt = True
        self._codec: Codec | None = None
        self.last_received = 0.0  # loop time of the last RTP packet (or of the start)

    @classmethod
    async def bind(cls, host: str, port_min: int, port_max: int) -> RtpStream:
        """A socket on a free even port of ``port_min..port_max`` (odd ones are RTCP's)."""
        loop = asyncio.get_running_loop()
        ports = list(range(port_min + port_min % 2, port_max + 1, 2))
        # Start at a random place: two nodes (or tests) sharing a range rarely collide.
        start = secrets.randbelow(len(ports)) if ports else 0
        family = (await loop.getaddrinfo(host, None, type=socket.SOCK_DGRAM))[0][0]
        for port in ports[start:] + ports[:start]:
            # Bound here, not by create_datagram_endpoint(local_addr=…): uvloop leaves the
            # transport of a failed bind open (a ResourceWarning when it is collected).
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.bind((host, port))
            except OSError:  # taken (by another call, node or program): try the next one
                sock.close()
                continue
            sock.setblocking(False)
            protocol = _Protocol()
            transport, _ = await loop.create_datagram_endpoint(
                functools.partial(_same, protocol), sock=sock
            )
            protocol.stream = cls(transport, port)
            return protocol.stream
        raise RtpPortsExhausted(f"no free RTP port in {port_min}-{port_max}")

    def start(
        self,
        negotiated: Negotiated,
        on_audio: OnAudio,
        on_dtmf: OnDtmf,
        *,
        silence_when_idle: bool = False,
    ) -> None:
        """Start receiving and sending; with ``silence_when_idle`` a frame of silence goes
        out every 20 ms nothing else does, so the far end hears a stream from the answer
        on (NAT bindings latch, RTP-timeout hang-ups and PBXes see a live call)."""
        self._on_audio = on_audio
        self._on_dtmf = on_dtmf
        self.update(negotiated)
        if silence_when_idle:
            self._pacer.idle = self._send_silence
        self.last_received = asyncio.get_running_loop().time()
        self._pacer.start()
        self._playout = asyncio.create_task(self._play_out(), name="rtp-playout")

    def silent_for(self) -> float:
        """Seconds since the peer last sent RTP (hold counts as not silent)."""
        if self.negotiated is not None and self.negotiated.direction != "sendrecv":
            # Hold, or a one-way stream: the peer may rightly send nothing.
            self.last_received = asyncio.get_running_loop().time()
        return asyncio.get_running_loop().time() - self.last_received

    def update(self, negotiated: Negotiated) -> None:
        """A (re-)negotiation: new remote address, direction, maybe a new codec."""
        changed = self.negotiated is None or (
            negotiated.codec_name,
            negotiated.payload_type,
        ) != (self.negotiated.codec_name, self.negotiated.payload_type)
        self.negotiated = negotiated
        self._remote = (negotiated.remote_address, negotiated.remote_port)
        if changed:
            self._codec = negotiated.codec()
            self._decode_resampler = StreamResampler(negotiated.clock_rate, SAMPLE_RATE)
            self._encode_resampler = StreamResampler(SAMPLE_RATE, negotiated.clock_rate)
            self._pending = np.zeros(0, dtype=np.int16)
        if negotiated.on_hold:
            self.clear()

    # Inbound --------------------------------------------------------------------------------
    def received(self, data: bytes) -> None:
        negotiated = self.negotiated
        packet = parse_rtp(data)
        if packet is None or negotiated is None:
            return
        self.last_received = asyncio.get_running_loop().time()
        if packet.payload_type == negotiated.dtmf_payload_type:
            self._dtmf(packet)
        elif packet.payload_type == negotiated.payload_type:
            self.jitter.push(packet.sequence, packet.payload, asyncio.get_running_loop().time())

    def _dtmf(self, packet: RtpPacket) -> None:
        """RFC 4733: one event is many packets with the same timestamp; report it once."""
        if len(packet.payload) < 4 or packet.timestamp == self._last_dtmf_timestamp:
            return
        event, _flags, duration = struct.unpack("!BBH", packet.payload[:4])
        if event >= len(DTMF_EVENTS):
            return
        self._last_dtmf_timestamp = packet.timestamp
        digit = DTMF_EVENTS[event]
        self.dtmf_received.append(digit)
        if self._on_dtmf is not None:
            # telephone-event/8000: the duration counts 8 kHz timestamp units.
            duration_ms = duration // 8
            task: asyncio.Task[None] = asyncio.get_running_loop().create_task(
                self._on_dtmf(digit, duration_ms)
            )
            task.add_done_callback(_log_failure)

    async def _play_out(self) -> None:
        """Every 20 ms: the next frame of the jitter buffer (silence for a lost one)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            deadline += FRAME_S
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            if loop.time() - deadline > 10 * FRAME_S:  # the loop was stalled: do not catch up
                deadline = loop.time()
            played = self.jitter.pop()
            if played is None or self._codec is None or self._decode_resampler is None:
                continue
            if played.payload is None:  # lost: conceal with one frame of silence
                samples = np.zeros(self._codec.clock_rate // 50, dtype=np.int16)
            else:
                samples = self._codec.decode(played.payload)
            pcm = self._decode_resampler.process(samples)
            if pcm.size and self._on_audio is not None:
                await self._on_audio(pcm.astype("<i2").tobytes())

    # Outbound -------------------------------------------------------------------------------
    def play(self, pcm16k: bytes) -> None:
        """Queue 16 kHz PCM (translated speech) for sending at real time."""
        if self._encode_resampler is None or self._codec is None or self.negotiated is None:
            return
        if self.negotiated.on_hold:
            return
        samples = self._encode_resampler.process(np.frombuffer(pcm16k, dtype="<i2"))
        pending = np.concatenate([self._pending, samples])
        frame = self._codec.clock_rate // 50
        whole = len(pending) - len(pending) % frame
        for offset in range(0, whole, frame):
            self._pacer.push(self._codec.encode(pending[offset : offset + frame]))
        self._pending = pending[whole:]

    def clear(self) -> int:
        """Barge-in (or hold): drop what is queued and not yet sent."""
        self._pending = np.zeros(0, dtype=np.int16)
        if self.negotiated is not None and self._encode_resampler is not None:
            # The resampler holds the last few ms of the dropped speech: they would open
            # the next utterance.
            self._encode_resampler = StreamResampler(SAMPLE_RATE, self.negotiated.clock_rate)
        self._talkspurt = True
        return self._pacer.clear()

    @property
    def queued(self) -> int:
        return self._pacer.queued

    async def _send_frame(self, payload: bytes) -> None:
        # The pacer ran dry: the next frame starts a new talkspurt (marker bit, RFC 3551 §4.1).
        next_talkspurt = self._pacer.queued == 0
        if self._send_packet(payload, self._talkspurt):
            self.packets_sent += 1
        self._talkspurt = next_talkspurt

    async def _send_silence(self) -> None:
        if self._codec is not None:
            silence = self._codec.encode(np.zeros(self._codec.clock_rate // 50, dtype=np.int16))
            if self._send_packet(silence, marker=False):
                self.silence_sent += 1
        self._talkspurt = True  # the speech after this silence starts a talkspurt

    def _send_packet(self, payload: bytes, marker: bool) -> bool:
        negotiated = self.negotiated
        if negotiated is None or self._remote is None or negotiated.on_hold:
            return False
        packet = RtpPacket(
            negotiated.payload_type, marker, self._sequence, self._timestamp, self._ssrc, payload
        )
        self.transport.sendto(build_rtp(packet), self._remote)
        self._sequence = (self._sequence + 1) & 0xFFFF
        self._timestamp = (self._timestamp + negotiated.clock_rate // 50) & 0xFFFFFFFF
        return True

    async def close(self) -> None:
        """Idempotent; the socket is closed first, so even a cancelled close frees it."""
        self.transport.close()
        if self._playout is not None:
            self._playout.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._playout
            self._playout = None
        await self._pacer.stop()

    @property
    def closed(self) -> bool:
        return self.transport.is_closing()


def _same(protocol: _Protocol) -> _Protocol:
    return protocol


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.info("DTMF not delivered: %s", task.exception())
