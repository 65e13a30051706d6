"""A carrier's WebSocket media stream joined to its session as the caller's leg.

Twilio's Media Streams and Telnyx's media streaming share their shape: a JSON event per
frame (``connected``, ``start``, ``media``, ``dtmf``, ``mark``, ``stop``) in, and ``media``,
``mark`` and ``clear`` out. :class:`MediaStreamBridge` is that shared part (the leg, idle
and garbage handling, paced output, marks after each translated chunk, ``clear`` on
barge-in); each carrier's subclass parses its own wire format and builds its own frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect

from kallglot.core.errors import KallglotError
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.player import OutputChunk
from kallglot.realtime.protocol import AudioEncoding, Party, ProtocolError
from kallglot.speech.audio import SAMPLE_RATE, TELEPHONE_RATE
from kallglot.telephony.leg import Leg
from kallglot.telephony.media import Pacer, Pcmu, StreamResampler

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_INVALID_DATA = 1007
FRAME_BYTES = 160  # 20 ms of G.711 at 8 kHz
MULAW_SILENCE = b"\xff"


class MediaStreamError(Exception):
    """A frame that is not the carrier's media stream protocol; the stream is closed (1007)."""


class MediaStreamBridge(ABC):
    carrier = "carrier"

    def __init__(
        self, websocket: WebSocket, hub: RealtimeHub, session_id: str, idle_s: float
    ) -> None:
        self.websocket = websocket
        self.hub = hub
        self.session_id = session_id
        self.idle_s = idle_s
        self.leg: Leg | None = None
        self.marks_played: list[str] = []
        self._send_lock = asyncio.Lock()
        self._pacer = Pacer(self._send_frame)
        self._downsampler = StreamResampler(SAMPLE_RATE, TELEPHONE_RATE)
        self._upsampler = StreamResampler(TELEPHONE_RATE, SAMPLE_RATE)
        self._codec = Pcmu()
        self._ended = asyncio.Event()

    # --- what a carrier defines ---------------------------------------------------------

    @abstractmethod
    async def handle(self, raw: str) -> bool:
        """Act on one inbound text frame; True when the stream is over.

        Raises :class:`MediaStreamError` for anything that is not the protocol.
        """

    @abstractmethod
    def media_message(self, mulaw: bytes) -> dict[str, Any]:
        """The outbound frame carrying 20 ms of the caller's translated speech (mu-law)."""

    @abstractmethod
    def mark_message(self, name: str) -> dict[str, Any]: ...

    @abstractmethod
    def clear_message(self) -> dict[str, Any]: ...

    async def flush(self) -> None:
        """Called when the stream ends normally: audio a carrier still holds goes in."""
        return None  # Twilio delivers frames in order and holds nothing back

    # --- the shared part ---------------------------------------------------------------

    async def run(self) -> None:
        """Serve the stream until ``stop``, a hang-up, garbage, silence or the call's end."""
        reason = "completed"
        close_code = 1000
        self._pacer.start()
        try:
            await self._receive_loop()
            await self.flush()
        except TimeoutError:
            reason = "timeout"
        except WebSocketDisconnect:
            pass
        except MediaStreamError as exc:
            logger.info("closing a %s media stream: %s", self.carrier, exc)
            reason, close_code = "transport_error", CLOSE_INVALID_DATA
        except KallglotError as exc:
            logger.info("refusing a %s media stream: %s", self.carrier, exc.code)
            close_code = CLOSE_UNAUTHORIZED
        finally:
            await self._pacer.stop()
            if self.leg is not None:
                await self.leg.close(end_call_reason=None if self._ended.is_set() else reason)
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self.websocket.close(code=close_code)

    async def _receive_loop(self) -> None:
        ended = asyncio.create_task(self._ended.wait())
        try:
            while True:
                receiving = asyncio.create_task(self.websocket.receive_text())
                done, _ = await asyncio.wait(
                    {receiving, ended}, timeout=self.idle_s, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    receiving.cancel()
                    raise TimeoutError
                if ended in done:
                    receiving.cancel()
                    return
                if await self.handle(receiving.result()):
                    return
        finally:
            ended.cancel()

    async def open_leg(self, token: str) -> None:
        """Join the session as the caller (the token is checked as the session WebSocket does)."""
        if self.leg is not None:
            raise MediaStreamError("a second 'start'")
        self.leg = await Leg.open(
            self.hub,
            self.session_id,
            token,
            Party.CALLER,
            self._on_event,
            AudioEncoding.MULAW,
            self._on_audio,
        )

    def require_leg(self, event: str) -> Leg:
        if self.leg is None:
            raise MediaStreamError(f"'{event}' before 'start'")
        return self.leg

    async def caller_audio(self, mulaw: bytes) -> None:
        """The caller's 8 kHz mu-law, to the session's 16 kHz PCM here, at the edge."""
        leg = self.require_leg("media")
        pcm = self._upsampler.process(self._codec.decode(mulaw))
        try:
            await leg.audio(pcm.astype("<i2").tobytes(), AudioEncoding.PCM_S16LE)
        except ProtocolError as exc:  # backpressure: that frame is dropped
            logger.info("dropping %s audio: %s", self.carrier, exc.code)

    async def caller_dtmf(self, digit: str) -> None:
        leg = self.require_leg("dtmf")
        with contextlib.suppress(ProtocolError):  # a digit we do not know is ignored
            await leg.dtmf(digit)

    async def _on_event(self, message: dict[str, Any]) -> None:
        """The session's events for the caller: translated speech, barge-in, the end."""
        kind = message["type"]
        if kind == "audio.clear":
            self._pacer.clear()
            await self.send(self.clear_message())
        elif kind == "session.ended":
            self._ended.set()

    async def _on_audio(self, chunk: OutputChunk) -> None:
        """Translated speech for the caller: to 8 kHz mu-law here, at the carrier's edge, in
        20 ms frames, with a mark after each chunk."""
        audio = self._codec.encode(self._downsampler.process(np.frombuffer(chunk.pcm16k, "<i2")))
        for offset in range(0, len(audio), FRAME_BYTES):
            frame = audio[offset : offset + FRAME_BYTES]
            self._pacer.push(frame.ljust(FRAME_BYTES, MULAW_SILENCE))
        name = f"{chunk.utterance_id}:{chunk.sequence}"
        self._pacer.after_queued(lambda: self.send(self.mark_message(name)))

    async def _send_frame(self, frame: bytes) -> None:
        await self.send(self.media_message(frame))

    async def send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self.websocket.send_json(message)
