"""Tables of the retention engine: per-organization overrides, legal holds, purge runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kallglot.db.base import Base, IdMixin, TimestampMixin


class RetentionOverride(IdMixin, TimestampMixin, Base):
    """An organization's own retention period for one class, within the class's bounds."""

    __tablename__ = "retention_overrides"
    __table_args__ = (UniqueConstraint("organization_id", "retention_class"),)

    organization_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    retention_class: Mapped[str] = mapped_column(String(40))
    days: Mapped[int]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(40), nullable=True)


class LegalHold(IdMixin, TimestampMixin, Base):
    """Suspends purging for a whole organization, or for one object (``call``/``call_…``)."""

    __tablename__ = "legal_holds"

    organization_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    object_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    object_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(String(500))
    placed_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(nullable=True)
    released_by: Mapped[str | None] = mapped_column(String(40), nullable=True)


class PurgeRun(IdMixin, Base):
    """What one run of the purge job removed (counts only, never the data)."""

    __tablename__ = "purge_runs"

    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    removed: Mapped[dict[str, Any]] = mapped_column(JSON)
    held_organizations: Mapped[int]
