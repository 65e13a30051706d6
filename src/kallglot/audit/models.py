"""The audit log: one SHA-256 hash chain per organization."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kallglot.db.base import Base, IdMixin

GLOBAL_CHAIN = "global"


class AuditEvent(IdMixin, Base):
    """One security-relevant action. Rows are only ever appended."""

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("chain", "sequence"),
        Index("ix_audit_events_organization_id_action", "organization_id", "action"),
    )

    # The chain is the organization id, or ``global`` for events outside any organization.
    chain: Mapped[str] = mapped_column(String(40))
    sequence: Mapped[int]
    occurred_at: Mapped[datetime]
    organization_id: Mapped[str | None] = mapped_column(String(40))
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(80))
    result: Mapped[str] = mapped_column(String(20))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    request_id: Mapped[str | None] = mapped_column(String(40))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The newest sequence and hash of each chain; locked while appending."""

    __tablename__ = "audit_chain_heads"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    sequence: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
