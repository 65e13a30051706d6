"""The session WebSocket protocol: client messages parsed strictly, server events built here.

Documented in ``docs/realtime.md``. A malformed client message never raises out
of :func:`parse_client_message`; it becomes a :class:`ProtocolError` that the
connection reports as ``session.error`` and then carries on.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

MAX_AUDIO_PAYLOAD_BYTES = 64_000  # 4 s of mu-law, 2 s of 16 kHz PCM per message


class Party(StrEnum):
    CALLER = "caller"
    AGENT = "agent"

    @property
    def other(self) -> Party:
        return Party.AGENT if self is Party.CALLER else Party.CALLER

    @classmethod
    def _missing_(cls, value: object) -> Party | None:
        # The public API's name for the caller is accepted wherever a party is parsed.
        return cls.CALLER if value == PUBLIC_CUSTOMER else None


PUBLIC_CUSTOMER = "customer"
_PARTY_FIELDS = ("speaker", "listener", "party")


def public_party(label: str) -> str:
    """A stored or internal party label as the public API spells it."""
    # ``str()``: a Party member hashes by its name, so dict keys want the plain value.
    return PUBLIC_CUSTOMER if label == Party.CALLER.value else str(label)


def public_labels(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` as the public API labels parties (the runtime says ``caller``)."""
    if not any(message.get(name) == Party.CALLER.value for name in _PARTY_FIELDS):
        return message
    return {
        key: public_party(value) if key in _PARTY_FIELDS and isinstance(value, str) else value
        for key, value in message.items()
    }


class AudioEncoding(StrEnum):
    MULAW = "mulaw"
    PCM_S16LE = "pcm_s16le"


SUPPORTED_FORMATS = {(AudioEncoding.MULAW, 8000), (AudioEncoding.PCM_S16LE, 16000)}


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AudioPayload(_Message):
    encoding: AudioEncoding = AudioEncoding.MULAW
    sample_rate_hz: int = 8000
    payload: str = Field(max_length=MAX_AUDIO_PAYLOAD_BYTES * 4 // 3 + 4)


class AudioInput(_Message):
    type: Literal["audio.input"]
    speaker: Party
    sequence: int = Field(ge=0)
    timestamp_ms: int | None = Field(default=None, ge=0)
    audio: AudioPayload


class Ping(_Message):
    type: Literal["ping"]


class SessionEnd(_Message):
    type: Literal["session.end"]


class SessionUpdate(_Message):
    type: Literal["session.update"]
    source_language: str | None = Field(default=None, min_length=2, max_length=8)
    target_language: str | None = Field(default=None, min_length=2, max_length=8)


ClientMessage = Annotated[
    AudioInput | Ping | SessionEnd | SessionUpdate, Field(discriminator="type")
]
_client_message = TypeAdapter(ClientMessage)


class ProtocolError(Exception):
    """A client message the session refuses; reported as ``session.error``, never fatal."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class DecodedAudio:
    speaker: Party
    sequence: int
    encoding: AudioEncoding
    sample_rate_hz: int
    data: bytes


def parse_client_message(raw: str | bytes) -> AudioInput | Ping | SessionEnd | SessionUpdate:
    """Parse one text frame, or raise ProtocolError with a public error code."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError("invalid_message", "The message is not valid JSON.") from None
    if not isinstance(document, dict) or "type" not in document:
        raise ProtocolError("invalid_message", "Every message is a JSON object with a 'type'.")
    try:
        return _client_message.validate_python(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == "union_tag_invalid":
            raise ProtocolError(
                "unknown_message_type", f"Unknown message type '{document['type']}'."
            ) from None
        where = ".".join(str(part) for part in error["loc"][1:])
        raise ProtocolError("invalid_message", f"Invalid '{where}': {error['msg']}.") from None


def decode_audio(message: AudioInput) -> DecodedAudio:
    """Check the format and decode the base64 payload."""
    audio = message.audio
    if (audio.encoding, audio.sample_rate_hz) not in SUPPORTED_FORMATS:
        raise ProtocolError(
            "invalid_audio_format",
            "Audio must be mulaw at 8000 Hz or pcm_s16le at 16000 Hz, mono.",
        )
    try:
        data = base64.b64decode(audio.payload, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("invalid_audio_format", "The audio payload is not base64.") from None
    if audio.encoding is AudioEncoding.PCM_S16LE and len(data) % 2:
        raise ProtocolError("invalid_audio_format", "16-bit PCM needs an even number of bytes.")
    return DecodedAudio(
        message.speaker, message.sequence, audio.encoding, audio.sample_rate_hz, data
    )


def event(event_type: str, session_id: str, **fields: Any) -> dict[str, Any]:
    """A server → client event."""
    return {"type": event_type, "session_id": session_id, **fields}
