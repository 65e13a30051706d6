"""Tables of the calls domain: sessions, their transitions, transcript turns, timings, webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kallglot.core.clock import utcnow
from kallglot.db.base import Base, IdMixin, TimestampMixin


class CallSession(IdMixin, TimestampMixin, Base):
    """A translated call (public API object ``session``)."""

    __tablename__ = "call_sessions"
    __table_args__ = (Index("ix_call_sessions_org_id", "organization_id", "id"),)

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    source_language: Mapped[str | None] = mapped_column(String(8))
    target_language: Mapped[str | None] = mapped_column(String(8))
    # The source language is a hint (a number's language): the caller's first utterance,
    # when confidently another language, decides.
    source_language_is_hint: Mapped[bool | None] = mapped_column(default=False)
    provider: Mapped[str | None] = mapped_column(String(20))
    routing: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    recording_enabled: Mapped[bool] = mapped_column(default=False)
    session_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    stream_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    stream_token_expires_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(40))
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)


class StreamToken(IdMixin, TimestampMixin, Base):
    """One leg's stream token (stored hashed): the carrier's, the agent's from answering.
    Issuing one never invalidates another, so a leg may (re)connect whoever answered."""

    __tablename__ = "call_session_tokens"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("call_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    party: Mapped[str | None] = mapped_column(String(10))
    expires_at: Mapped[datetime]


class SessionTransition(IdMixin, Base):
    """Every state change of a session, in order."""

    __tablename__ = "call_session_transitions"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("call_sessions.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class TranscriptTurn(IdMixin, TimestampMixin, Base):
    """A final utterance; the original and its translation are encrypted at rest."""

    __tablename__ = "transcript_turns"
    __table_args__ = (UniqueConstraint("session_id", "sequence"),)

    session_id: Mapped[str] = mapped_column(
        ForeignKey("call_sessions.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(String(40), index=True)
    sequence: Mapped[int]
    speaker: Mapped[str] = mapped_column(String(10))
    language: Mapped[str | None] = mapped_column(String(8))
    text_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    translation_language: Mapped[str | None] = mapped_column(String(8))
    translation_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    start_ms: Mapped[int]
    end_ms: Mapped[int]
    confidence: Mapped[float | None]


class UtteranceTiming(IdMixin, Base):
    """When each stage of one utterance finished, in ms after the end of speech."""

    __tablename__ = "utterance_timings"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("call_sessions.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(String(40), index=True)
    speaker: Mapped[str] = mapped_column(String(10))
    utterance_id: Mapped[str] = mapped_column(String(40))
    speech_ended_at: Mapped[datetime]
    asr_final_ms: Mapped[int]
    mt_done_ms: Mapped[int | None]
    first_audio_ms: Mapped[int | None]


class Recording(IdMixin, TimestampMixin, Base):
    """One channel of a call's recording (``agent``, ``customer`` or ``mixed``; MP3), encrypted
    in the blob store. Rows from before per-party recordings are one stereo WAV, ``dual``."""

    __tablename__ = "recordings"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("call_sessions.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(String(40), index=True)
    blob_id: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="ready")
    duration_seconds: Mapped[float]
    sample_rate: Mapped[int]
    channels: Mapped[int]
    size_bytes: Mapped[int]
    channel: Mapped[str] = mapped_column(String(10), default="mixed", server_default="dual")
    format: Mapped[str] = mapped_column(String(8), default="mp3", server_default="wav")
