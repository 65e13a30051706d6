"""One Twilio Media Stream joined to its session as the caller's leg."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from kallglot.core.errors import KallglotError
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.protocol import AudioEncoding, Party, ProtocolError
from kallglot.telephony.leg import Leg
from kallglot.telephony.media import Pacer
from kallglot.telephony.twilio import protocol
from kallglot.telephony.twilio.protocol import (
    Dtmf,
    Mark,
    Media,
    MediaStreamError,
    Start,
    Stop,
)

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_INVALID_DATA = 1007
MULAW_SILENCE = b"\xff"


class TwilioBridge:
    def __init__(
        self, websocket: WebSocket, hub: RealtimeHub, session_id: str, idle_s: float
    ) -> None:
        self.websocket = websocket
        self.hub = hub
        self.session_id = session_id
        self.idle_s = idle_s
        self.stream_sid = ""
        self.leg: Leg | None = None
        self.marks_played: list[str] = []
        self._send_lock = asyncio.Lock()
        self._pacer = Pacer(self._send_frame)
        self._ended = asyncio.Event()

    async def run(self) -> None:
        """Serve the stream until ``stop``, a hang-up, garbage, silence or the call's end."""
        reason = "completed"
        close_code = 1000
        self._pacer.start()
        try:
            await self._receive_loop()
        except TimeoutError:
            reason = "timeout"
        except WebSocketDisconnect:
            pass
        except MediaStreamError as exc:
            logger.info("closing a Twilio media stream: %s", exc)
            reason, close_code = "transport_error", CLOSE_INVALID_DATA
        except KallglotError as exc:
            logger.info("refusing a Twilio media stream: %s", exc.code)
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
                if await self._handle(protocol.parse(receiving.result())):
                    return
        finally:
            ended.cancel()

    async def _handle(self, message: protocol.InboundEvent) -> bool:
        """Act on one event; True when the stream is over."""
        if isinstance(message, Start):
            await self._start(message)
        elif isinstance(message, Stop):
            return True
        elif self.leg is None:
            if not isinstance(message, protocol.Connected):
                raise MediaStreamError(f"'{message.event}' before 'start'")
        elif isinstance(message, Media):
            if message.media.track == "inbound":
                await self._audio(message.audio())
        elif isinstance(message, Dtmf):
            with contextlib.suppress(ProtocolError):  # a digit we do not know is ignored
                await self.leg.dtmf(message.dtmf.digit)
        elif isinstance(message, Mark):
            self.marks_played.append(message.mark.name)
        return False

    async def _start(self, message: Start) -> None:
        if self.leg is not None:
            raise MediaStreamError("a second 'start'")
        media_format = message.start.media_format
        if media_format.encoding != "audio/x-mulaw" or media_format.sample_rate != 8000:
            raise MediaStreamError("only audio/x-mulaw at 8000 Hz is supported")
        self.stream_sid = message.stream_sid
        token = message.start.custom_parameters.get("token", "")
        self.leg = await Leg.open(
            self.hub, self.session_id, token, Party.CALLER, self._on_event, AudioEncoding.MULAW
        )

    async def _audio(self, mulaw: bytes) -> None:
        assert self.leg is not None
        try:
            await self.leg.audio(mulaw, AudioEncoding.MULAW)
        except ProtocolError as exc:  # backpressure: that frame is dropped
            logger.info("dropping Twilio audio: %s", exc.code)

    async def _on_event(self, message: dict[str, Any]) -> None:
        """The session's events for the caller: translated speech, barge-in, the end."""
        kind = message["type"]
        if kind == "audio.output":
            audio = base64.b64decode(message["audio"]["payload"])
            for offset in range(0, len(audio), protocol.FRAME_BYTES):
                frame = audio[offset : offset + protocol.FRAME_BYTES]
                self._pacer.push(frame.ljust(protocol.FRAME_BYTES, MULAW_SILENCE))
            name = f"{message['utterance_id']}:{message['sequence']}"
            self._pacer.after_queued(lambda: self._send(protocol.mark(self.stream_sid, name)))
        elif kind == "audio.clear":
            self._pacer.clear()
            await self._send(protocol.clear(self.stream_sid))
        elif kind == "session.ended":
            self._ended.set()

    async def _send_frame(self, frame: bytes) -> None:
        await self._send(protocol.media(self.stream_sid, frame))

    async def _send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self.websocket.send_json(message)
