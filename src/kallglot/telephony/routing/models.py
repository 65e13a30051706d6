"""Tables of routing: queues, agents, their languages and presence, the activity log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kallglot.core.clock import utcnow
from kallglot.db.base import Base, IdMixin, TimestampMixin


class Queue(IdMixin, TimestampMixin, Base):
    __tablename__ = "routing_queues"
    __table_args__ = (Index("ix_routing_queues_org_id", "organization_id", "id"),)

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    ring_timeout_seconds: Mapped[int] = mapped_column(default=20)
    # After the ring timeout the next agent is tried; with nobody left: "message" (a
    # voicemail-style message in the caller's language) or "hangup" (a message, then hang up).
    overflow_action: Mapped[str] = mapped_column(String(20), default="message")
    # language code -> text spoken on overflow; "*" is the fallback.
    overflow_messages: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class Agent(IdMixin, TimestampMixin, Base):
    """A member who answers calls: presence, languages, and when they were last free."""

    __tablename__ = "routing_agents"
    __table_args__ = (
        UniqueConstraint("organization_id", "user_id"),
        Index("ix_routing_agents_org_id", "organization_id", "id"),
    )

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(100))
    presence: Mapped[str] = mapped_column(String(20), default="offline")
    presence_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Longest idle first: the time the agent last became free for a call.
    idle_since: Mapped[datetime] = mapped_column(default=utcnow)
    active_calls: Mapped[int] = mapped_column(default=0)
    max_concurrent_calls: Mapped[int] = mapped_column(default=1)


class AgentLanguage(Base):
    __tablename__ = "routing_agent_languages"

    agent_id: Mapped[str] = mapped_column(
        ForeignKey("routing_agents.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(8), primary_key=True)


class QueueMember(Base):
    __tablename__ = "routing_queue_members"

    queue_id: Mapped[str] = mapped_column(
        ForeignKey("routing_queues.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[str] = mapped_column(
        ForeignKey("routing_agents.id", ondelete="CASCADE"), primary_key=True
    )


class AgentActivity(IdMixin, TimestampMixin, Base):
    """The agent activity log: state changes, calls offered/answered/missed, sign-in/out."""

    __tablename__ = "agent_activity"
    __table_args__ = (
        Index("ix_agent_activity_org_id", "organization_id", "id"),
        Index("ix_agent_activity_agent_id", "agent_id", "id"),
    )

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("routing_agents.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(30))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    call_id: Mapped[str | None] = mapped_column(String(40))
