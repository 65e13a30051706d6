"""Twilio Media Streams wire format: inbound events parsed strictly, outbound ones built.

Inbound: ``connected``, ``start``, ``media`` (base64 mu-law 8 kHz), ``dtmf``, ``mark``,
``stop``. Outbound: ``media``, ``mark``, ``clear``. Nothing here knows about sessions.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from kallglot.telephony.media_stream import MediaStreamError

MAX_PAYLOAD_CHARS = 16_000


class _Event(BaseModel):
    # Twilio adds fields over time; unknown ones are ignored, known ones are checked.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Connected(_Event):
    event: Literal["connected"]


class MediaFormat(_Event):
    encoding: str
    sample_rate: int = Field(alias="sampleRate")
    channels: int = 1


class StartInfo(_Event):
    call_sid: str = Field(default="", alias="callSid", max_length=64)
    custom_parameters: dict[str, str] = Field(default_factory=dict, alias="customParameters")
    media_format: MediaFormat = Field(alias="mediaFormat")


class Start(_Event):
    event: Literal["start"]
    stream_sid: str = Field(alias="streamSid", min_length=1, max_length=64)
    start: StartInfo


class MediaInfo(_Event):
    track: str = "inbound"
    payload: str = Field(max_length=MAX_PAYLOAD_CHARS)


class Media(_Event):
    event: Literal["media"]
    media: MediaInfo

    def audio(self) -> bytes:
        try:
            return base64.b64decode(self.media.payload, validate=True)
        except (binascii.Error, ValueError):
            raise MediaStreamError("media payload is not base64") from None


class DtmfInfo(_Event):
    digit: str = Field(min_length=1, max_length=1)


class Dtmf(_Event):
    event: Literal["dtmf"]
    dtmf: DtmfInfo


class MarkInfo(_Event):
    name: str = Field(max_length=200)


class Mark(_Event):
    event: Literal["mark"]
    mark: MarkInfo


class Stop(_Event):
    event: Literal["stop"]


InboundEvent = Connected | Start | Media | Dtmf | Mark | Stop
_inbound: TypeAdapter[InboundEvent] = TypeAdapter(
    Annotated[InboundEvent, Field(discriminator="event")]
)


def parse(raw: str) -> InboundEvent:
    try:
        return _inbound.validate_python(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise MediaStreamError(f"not a Media Streams event: {type(exc).__name__}") from None


def media(stream_sid: str, mulaw: bytes) -> dict[str, Any]:
    payload = base64.b64encode(mulaw).decode()
    return {"event": "media", "streamSid": stream_sid, "media": {"payload": payload}}


def mark(stream_sid: str, name: str) -> dict[str, Any]:
    return {"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}


def clear(stream_sid: str) -> dict[str, Any]:
    return {"event": "clear", "streamSid": stream_sid}
