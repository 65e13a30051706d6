"""Telnyx media streaming wire format: inbound frames parsed strictly, outbound ones built.

Inbound: ``connected``, ``start`` (``media_format`` with PCMU or PCMA at 8 kHz),
``media`` (``media.payload`` base64 RTP payload, ``media.chunk`` its order: frames may
arrive out of order), ``dtmf``, ``mark``, ``error``, ``stop``. Outbound: ``media``,
``mark``, ``clear``. Field names are snake_case; numbers come as strings.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from kallglot.telephony.media_stream import MediaStreamError

MAX_PAYLOAD_CHARS = 16_000


class _Frame(BaseModel):
    # Telnyx adds fields over time; unknown ones are ignored, known ones are checked.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Connected(_Frame):
    event: Literal["connected"]


class MediaFormat(_Frame):
    encoding: str
    sample_rate: int
    channels: int = 1


class StartInfo(_Frame):
    call_control_id: str = Field(default="", max_length=200)
    client_state: str = Field(default="", max_length=4096)
    media_format: MediaFormat


class Start(_Frame):
    event: Literal["start"]
    stream_id: str = Field(min_length=1, max_length=100)
    start: StartInfo

    def token(self) -> str:
        """The stream token we put in ``client_state`` (base64, as Telnyx requires)."""
        try:
            return base64.b64decode(self.start.client_state, validate=True).decode()
        except (binascii.Error, ValueError):
            raise MediaStreamError("client_state is not base64") from None


class MediaInfo(_Frame):
    track: str = "inbound"
    chunk: int = Field(ge=0)
    payload: str = Field(max_length=MAX_PAYLOAD_CHARS)


class Media(_Frame):
    event: Literal["media"]
    media: MediaInfo

    def audio(self) -> bytes:
        try:
            return base64.b64decode(self.media.payload, validate=True)
        except (binascii.Error, ValueError):
            raise MediaStreamError("media payload is not base64") from None


class DtmfInfo(_Frame):
    digit: str = Field(min_length=1, max_length=1)


class Dtmf(_Frame):
    event: Literal["dtmf"]
    dtmf: DtmfInfo


class MarkInfo(_Frame):
    name: str = Field(max_length=200)


class Mark(_Frame):
    event: Literal["mark"]
    mark: MarkInfo


class ErrorInfo(_Frame):
    code: int | None = None
    title: str = ""
    detail: str = ""


class Error(_Frame):
    event: Literal["error"]
    payload: ErrorInfo = Field(default_factory=ErrorInfo)


class Stop(_Frame):
    event: Literal["stop"]


InboundFrame = Connected | Start | Media | Dtmf | Mark | Error | Stop
_inbound: TypeAdapter[InboundFrame] = TypeAdapter(
    Annotated[InboundFrame, Field(discriminator="event")]
)


def parse(raw: str) -> InboundFrame:
    try:
        return _inbound.validate_python(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise MediaStreamError(f"not a Telnyx media frame: {type(exc).__name__}") from None


def media(payload: bytes) -> dict[str, Any]:
    return {"event": "media", "media": {"payload": base64.b64encode(payload).decode()}}


def mark(name: str) -> dict[str, Any]:
    return {"event": "mark", "mark": {"name": name}}


def clear() -> dict[str, Any]:
    return {"event": "clear"}
