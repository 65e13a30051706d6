"""Request and response bodies of the sessions API (shapes of the public Kallglot API)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator, model_validator

from kallglot.core.schemas import RequestModel, ResponseModel

LANGUAGE_CODE = r"^[a-z]{2,3}$"
E164 = r"^\+[1-9]\d{6,14}$"


class SessionMode(StrEnum):
    BIDIRECTIONAL = "bidirectional_translation"
    ASSISTIVE = "assistive_translation"
    TRANSCRIPTION = "transcription"


class Routing(RequestModel):
    phone_number: str | None = Field(default=None, pattern=E164)
    connection_id: str | None = Field(default=None, max_length=64)
    type: Literal["sip"] | None = None
    direction: Literal["inbound", "outbound"] | None = None

    @model_validator(mode="after")
    def _one_method(self) -> Routing:
        chosen = [self.phone_number, self.connection_id, self.type]
        if sum(value is not None for value in chosen) > 1:
            raise ValueError("give exactly one of phone_number, connection_id or type")
        return self


class RecordingOptions(RequestModel):
    enabled: bool = False


class CreateSession(RequestModel):
    mode: SessionMode
    source_language: str | None = Field(default=None, pattern=LANGUAGE_CODE)
    target_language: str | None = Field(default=None, pattern=LANGUAGE_CODE)
    routing: Routing | None = None
    recording: RecordingOptions = RecordingOptions()
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _bounded_metadata(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 50:
            raise ValueError("at most 50 keys")
        for key, item in value.items():
            if not 1 <= len(key) <= 40 or len(item) > 500:
                raise ValueError("keys are 1-40 characters, values at most 500")
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
    metadata: dict[str, str]
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
