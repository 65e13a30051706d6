"""Call records: one row per call, phone numbers encrypted with a keyed hash for lookup."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from kallglot.db.base import Base, IdMixin, TimestampMixin


class CallRecord(IdMixin, TimestampMixin, Base):
    __tablename__ = "call_records"
    __table_args__ = (
        Index("ix_call_records_org_id", "organization_id", "id"),
        Index("ix_call_records_from_hash", "organization_id", "from_hash"),
        Index("ix_call_records_to_hash", "organization_id", "to_hash"),
    )

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(10))
    from_number: Mapped[bytes] = mapped_column(LargeBinary)
    from_hash: Mapped[str] = mapped_column(String(64))
    to_number: Mapped[bytes] = mapped_column(LargeBinary)
    to_hash: Mapped[str] = mapped_column(String(64))
    number_id: Mapped[str | None] = mapped_column(
        ForeignKey("phone_numbers.id", ondelete="SET NULL")
    )
    queue_id: Mapped[str | None] = mapped_column(
        ForeignKey("routing_queues.id", ondelete="SET NULL")
    )
    agent_id: Mapped[str | None] = mapped_column(
        ForeignKey("routing_agents.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime]
    # When the current agent was offered the call (ring timeout counts from here).
    offered_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None]
    # ringing, in_progress, completed, missed, abandoned, overflow_message, overflow_hangup, failed
    outcome: Mapped[str] = mapped_column(String(20), default="ringing")
    caller_language: Mapped[str | None] = mapped_column(String(8))
    agent_language: Mapped[str | None] = mapped_column(String(8))
    mode: Mapped[str] = mapped_column(String(40), default="bidirectional_translation")
    # The realtime session (call_sessions.id, ``sess_…``) that carried the audio.
    session_id: Mapped[str | None] = mapped_column(String(40), index=True)
    recording: Mapped[bool] = mapped_column(default=False)
    # The carrier's own id of the call (Telnyx ``call_control_id``): a webhook the carrier
    # delivers again is recognised instead of routing the same call twice.
    carrier_call_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    # Why the call ended (the session's end reason: ``completed``, ``agent_hangup``, …).
    end_reason: Mapped[str | None] = mapped_column(String(40))
