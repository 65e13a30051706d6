"""One Twilio Media Stream joined to its session as the caller's leg."""

from __future__ import annotations

from typing import Any

from kallglot.telephony.media_stream import MediaStreamBridge, MediaStreamError
from kallglot.telephony.twilio import protocol
from kallglot.telephony.twilio.protocol import Dtmf, Mark, Media, Start, Stop


class TwilioBridge(MediaStreamBridge):
    carrier = "Twilio"
    stream_sid = ""

    async def handle(self, raw: str) -> bool:
        message = protocol.parse(raw)
        if isinstance(message, Start):
            await self._start(message)
        elif isinstance(message, Stop):
            return True
        elif self.leg is None:
            if not isinstance(message, protocol.Connected):
                raise MediaStreamError(f"'{message.event}' before 'start'")
        elif isinstance(message, Media):
            if message.media.track == "inbound":
                await self.caller_audio(message.audio())
        elif isinstance(message, Dtmf):
            await self.caller_dtmf(message.dtmf.digit)
        elif isinstance(message, Mark):
            self.marks_played.append(message.mark.name)
        return False

    async def _start(self, message: Start) -> None:
        media_format = message.start.media_format
        if media_format.encoding != "audio/x-mulaw" or media_format.sample_rate != 8000:
            raise MediaStreamError("only audio/x-mulaw at 8000 Hz is supported")
        self.stream_sid = message.stream_sid
        await self.open_leg(message.start.custom_parameters.get("token", ""))

    def media_message(self, mulaw: bytes) -> dict[str, Any]:
        return protocol.media(self.stream_sid, mulaw)

    def mark_message(self, name: str) -> dict[str, Any]:
        return protocol.mark(self.stream_sid, name)

    def clear_message(self) -> dict[str, Any]:
        return protocol.clear(self.stream_sid)
