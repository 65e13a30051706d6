"""Request and response bodies of the sessions API (shapes of the public Kallglot API)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator

from kallglot.core.schemas import RequestModel, ResponseModel

LANGUAGE_CODE = r"^[a-z]{2,3}$"
E164 = r"^\+[1-9]\d{6,14}$"


class SessionMode(StrEnum):
    BIDIRECTIONAL = "bidirectional_translation"
    ASSISTIVE = "assistive_translation"
    TRANSCRIPTION = "transcription"


SIP_URI = r"^sips?:[^\s<>\"]{1,250}$"
SIP_X_HEADER = r"^X-[A-Za-z0-9-]{1,62}$"
MAX_SIP_HEADERS = 20


class SipRouting(RequestModel):
    """``routing.sip``: what the SIP leg of a ``type: "sip"`` session carries."""

    from_uri: str | None = Field(default=None, pattern=SIP_URI, description="SIP From URI")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Custom SIP X- headers attached to the dialog"
    )

    @field_validator("headers")
    @classmethod
    def _x_headers_only(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_SIP_HEADERS:
            raise ValueError(f"at most {MAX_SIP_HEADERS} headers")
        for name, item in value.items():
            if not re.fullmatch(SIP_X_HEADER, name):
                raise ValueError(f"header names start with 'X-' (got {name[:64]!r})")
            if len(item) > 256 or any(char in item for char in "\r\n\0"):
                raise ValueError("header values are one line of at most 256 characters")
        return value


class Routing(RequestModel):
    phone_number: str | None = Field(default=None, pattern=E164)
    connection_id: str | None = Field(default=None, max_length=64)
    type: Literal["sip"] | None = None
    direction: Literal["inbound", "outbound"] | None = None
    sip: SipRouting | None = None

    @model_validator(mode="after")
    def _sip_only_for_sip(self) -> Routing:
        if self.sip is not None and self.type != "sip":
            raise ValueError("routing.sip needs routing.type 'sip'")
        return self

    @model_validator(mode="after")
    def _one_method(self) -> Routing:
        chosen = [self.phone_number, self.connection_id, self.type]
        if sum(value is not None for value in chosen) > 1:
            raise ValueError("give exactly one of phone_number, connection_id or type")
        return self


class RecordingOptions(RequestModel):
    enabled: bool = False
    # The legacy docs' "dual"; every recording is kept per party and mixed (see docs/api.md).
    channels: Literal["dual"] | None = None


class AudioHints(RequestModel):
    """Audio transport hints; our transports detect the format at the edge (docs/api.md)."""

    encoding: Literal["mulaw", "alaw", "pcm_16"] = "mulaw"
    sample_rate: Literal[8000, 16000, 24000, 48000] = Field(
        default=8000, validation_alias=AliasChoices("sample_rate", "sample_rate_hz")
    )
    channels: Literal[1, 2] = 1


class AiAgentTool(RequestModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = Field(default="", max_length=1000)
    parameters: dict[str, Any] = Field(default_factory=dict, description="JSON Schema")


class AiAgentOptions(RequestModel):
    """The documented ``ai_agent`` object; validated, not acted on (no AI agent modes here)."""

    agent_id: str | None = Field(default=None, pattern=r"^agt_[A-Za-z0-9]{1,60}$")
    system_prompt: str | None = Field(default=None, max_length=20_000)
    voice: str | None = Field(default=None, max_length=64)
    temperature: float | None = Field(default=None, ge=0, le=2)
    knowledge_base_id: str | None = Field(default=None, pattern=r"^kb_[A-Za-z0-9]{1,60}$")
    tools: list[AiAgentTool] = Field(default_factory=list, max_length=64)


MAX_METADATA_KEYS = 50
MAX_METADATA_VALUE_CHARS = 500


class CreateSession(RequestModel):
    mode: SessionMode
    source_language: str | None = Field(default=None, pattern=LANGUAGE_CODE)
    target_language: str | None = Field(default=None, pattern=LANGUAGE_CODE)
    routing: Routing | None = None
    audio: AudioHints | None = None
    voice: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    ai_agent: AiAgentOptions | None = None
    recording: RecordingOptions = RecordingOptions()
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Free-form: any JSON values, kept as given"
    )

    @field_validator("metadata", mode="before")
    @classmethod
    def _null_is_empty(cls, value: object) -> object:
        return {} if value is None else value

    @field_validator("metadata")
    @classmethod
    def _bounded_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_METADATA_KEYS:
            raise ValueError(f"at most {MAX_METADATA_KEYS} keys")
        for key, item in value.items():
            size = len(item) if isinstance(item, str) else len(json.dumps(item, allow_nan=False))
            if not 1 <= len(key) <= 40 or size > MAX_METADATA_VALUE_CHARS:
                raise ValueError(
                    f"keys are 1-40 characters, values at most {MAX_METADATA_VALUE_CHARS}"
                )
        return value


class EndSession(RequestModel):
    reason: Literal["completed", "customer_hangup", "agent_hangup", "error", "timeout"] | None = (
        None
    )


class StreamInfo(ResponseModel):
    url: str
    token: str
    expires_at: datetime


class RecordingInfo(ResponseModel):
    enabled: bool


class SessionOut(ResponseModel):
    id: str
    object: Literal["session"] = "session"
    status: str
    mode: str
    provider: str | None
    phone_number: str | None
    source_language: str | None
    target_language: str | None
    stream: StreamInfo | None = None
    recording: RecordingInfo
    metadata: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None


class EndedSessionOut(ResponseModel):
    id: str
    object: Literal["session"] = "session"
    status: str
    duration_seconds: float
    ended_at: datetime | None
    end_reason: str | None


class TranslationOut(ResponseModel):
    language: str
    text: str


class TurnOut(ResponseModel):
    sequence: int
    speaker: str
    language: str | None
    text: str
    translation: TranslationOut | None
    start_ms: int
    end_ms: int
    confidence: float | None
    timestamp: datetime


class TranscriptMetadata(ResponseModel):
    total_turns: int
    duration_seconds: float
    languages_detected: list[str]


class TranscriptOut(ResponseModel):
    id: str
    object: Literal["transcript"] = "transcript"
    session_id: str
    status: Literal["in_progress", "completed"]
    turns: list[TurnOut]
    metadata: TranscriptMetadata


class LatencyPercentiles(ResponseModel):
    utterances: int
    p50_ms: float | None
    p95_ms: float | None
    max_ms: float | None


class LatencyOut(ResponseModel):
    object: Literal["latency"] = "latency"
    end_of_speech_to_first_audio: LatencyPercentiles
    end_of_speech_to_asr_final: LatencyPercentiles
