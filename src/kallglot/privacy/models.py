"""Tables of the privacy engine: retention overrides, legal holds, purge runs, subject requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kallglot.crypto.fields import EncryptedAttribute
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


class SubjectRequest(IdMixin, TimestampMixin, Base):
    """A data-subject request (GDPR Art. 15-21): who, what, its deadline and its outcome.

    The subject's email or phone number is kept only encrypted (``subject_value``, bound to
    this row) beside its lookup hash; a user subject is referenced by ``subject_user_id``.
    """

    __tablename__ = "subject_requests"

    organization_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    subject_kind: Mapped[str] = mapped_column(String(10))
    subject_user_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    subject_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    subject_value: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    received_at: Mapped[datetime]
    due_at: Mapped[datetime]
    extension_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    verification_method: Mapped[str | None] = mapped_column(String(30), nullable=True)
    code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    code_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    code_attempts: Mapped[int] = mapped_column(default=0)
    progress: Mapped[int] = mapped_column(default=0)
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    rejection_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    export_blob_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    export_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    export_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    export_downloaded_at: Mapped[datetime | None] = mapped_column(nullable=True)
    requested_by: Mapped[str | None] = mapped_column(String(40), nullable=True)


class ProcessingLimit(IdMixin, TimestampMixin, Base):
    """A restriction (no processing at all) or objection (listed purposes) for one subject.

    ``subject_ref`` is the subject's ``usr_…`` id or lookup hash, as for subject data keys.
    """

    __tablename__ = "processing_limits"

    organization_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    subject_ref: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    purposes: Mapped[list[str]] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    lifted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class LegalRequest(IdMixin, TimestampMixin, Base):
    """A request from an authority (law enforcement, court, regulator) and our answer.

    What was asked for, disclosed and pushed back on is encrypted (``details``).
    """

    __tablename__ = "legal_requests"

    organization_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    # Encrypted with the organization's key, bound to the row: read and set ``authority``.
    authority_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    authority = EncryptedAttribute("authority_encrypted", organization_attribute="organization_id")
    legal_basis: Mapped[str] = mapped_column(String(300))
    received_at: Mapped[datetime]
    decision: Mapped[str] = mapped_column(String(30), default="pending")
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    details: Mapped[bytes] = mapped_column(LargeBinary)
    recorded_by: Mapped[str | None] = mapped_column(String(40), nullable=True)


class SubProcessor(IdMixin, TimestampMixin, Base):
    """One entry of the public sub-processor list; in force from ``effective_at``."""

    __tablename__ = "subprocessors"

    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(500))
    location: Mapped[str] = mapped_column(String(200))
    data_categories: Mapped[list[str]] = mapped_column(JSON)
    dpa_url: Mapped[str] = mapped_column(String(500))
    announced_at: Mapped[datetime]
    effective_at: Mapped[datetime]
    removed_at: Mapped[datetime | None] = mapped_column(nullable=True)
