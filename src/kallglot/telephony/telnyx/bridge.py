"""One Telnyx media stream joined to its session as the caller's leg.

Telnyx does not guarantee the order of ``media`` frames, so the caller's audio goes
through the RTP jitter buffer keyed by ``media.chunk`` before it reaches the session:
reordered frames are put back in order, duplicates and frames that come too late are
dropped, and a frame that never comes is concealed with silence.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kallglot.speech import g711
from kallglot.telephony.media import JitterBuffer, Played
from kallglot.telephony.media_stream import (
    FRAME_BYTES,
    MULAW_SILENCE,
    MediaStreamBridge,
    MediaStreamError,
)
from kallglot.telephony.telnyx import protocol
from kallglot.telephony.telnyx.protocol import Dtmf, Error, Mark, Media, Start, Stop

logger = logging.getLogger(__name__)

SUPPORTED_ENCODINGS = ("PCMU", "PCMA")


def _alaw_to_mulaw(alaw: bytes) -> bytes:
    return g711.mulaw_encode(g711.alaw_decode(alaw))


def _mulaw_to_alaw(mulaw: bytes) -> bytes:
    return g711.alaw_encode(g711.mulaw_decode(mulaw))


class TelnyxBridge(MediaStreamBridge):
    carrier = "Telnyx"
    stream_id = ""
    encoding = "PCMU"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.jitter = JitterBuffer(min_frames=2, max_frames=10)

    async def handle(self, raw: str) -> bool:
        message = protocol.parse(raw)
        if isinstance(message, Start):
            await self._start(message)
        elif isinstance(message, Stop):
            return True
        elif isinstance(message, Error):
            logger.info(
                "Telnyx reports a media streaming error %s: %s",
                message.payload.code,
                message.payload.title,
            )
        elif isinstance(message, protocol.Connected):
            pass
        elif isinstance(message, Media):
            self.require_leg("media")
            if message.media.track == "inbound":
                await self._media(message)
        elif isinstance(message, Dtmf):
            await self.caller_dtmf(message.dtmf.digit)
        elif isinstance(message, Mark):
            self.require_leg("mark")
            self.marks_played.append(message.mark.name)
        return False

    async def _start(self, message: Start) -> None:
        media_format = message.start.media_format
        if media_format.encoding not in SUPPORTED_ENCODINGS or media_format.sample_rate != 8000:
            raise MediaStreamError("only PCMU or PCMA at 8000 Hz is supported")
        self.stream_id = message.stream_id
        self.encoding = media_format.encoding
        await self.open_leg(message.token())

    async def _media(self, message: Media) -> None:
        payload = message.audio()
        if self.encoding == "PCMA":
            payload = _alaw_to_mulaw(payload)
        self.jitter.push(message.media.chunk, payload, asyncio.get_running_loop().time())
        # Hold back the buffer's target depth: a frame overtaken by a later one can still
        # take its place; past that, its slot is played as concealment.
        while self.jitter.depth >= self.jitter.target_frames:
            played = self.jitter.pop()
            if played is None:
                break
            await self._play(played)

    async def _play(self, played: Played) -> None:
        await self.caller_audio(played.payload or MULAW_SILENCE * FRAME_BYTES)

    async def flush(self) -> None:
        """``stop``: what the jitter buffer still holds is the end of the caller's speech."""
        if self.leg is None:
            return
        for played in self.jitter.drain():
            await self._play(played)

    def media_message(self, mulaw: bytes) -> dict[str, Any]:
        return protocol.media(_mulaw_to_alaw(mulaw) if self.encoding == "PCMA" else mulaw)

    def mark_message(self, name: str) -> dict[str, Any]:
        return protocol.mark(name)

    def clear_message(self) -> dict[str, Any]:
        return protocol.clear()
