"""Tables of company verification: bundles and their documents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from kallglot.db.base import Base, IdMixin, TimestampMixin


class KycBundle(IdMixin, TimestampMixin, Base):
    """What the organization proved for one country and number type (a carrier's bundle)."""

    __tablename__ = "kyc_bundles"
    __table_args__ = (Index("ix_kyc_bundles_org_id", "organization_id", "id"),)

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    country: Mapped[str] = mapped_column(String(2))
    number_type: Mapped[str] = mapped_column(String(20))
    end_user_type: Mapped[str] = mapped_column(String(20))
    carrier: Mapped[str] = mapped_column(String(20))
    carrier_ref: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    rejection_reason: Mapped[str | None] = mapped_column(String(500))
    # Company name, address, VAT id, representative, industry, size: encrypted JSON.
    details: Mapped[bytes | None] = mapped_column(LargeBinary)
    submitted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    # Regulatory end date: the kyc retention class deletes the bundle after it.
    retain_until: Mapped[datetime | None]


class KycDocument(IdMixin, TimestampMixin, Base):
    """An uploaded document; the bytes are an encrypted blob."""

    __tablename__ = "kyc_documents"
    __table_args__ = (Index("ix_kyc_documents_bundle_id", "bundle_id", "id"),)

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    bundle_id: Mapped[str] = mapped_column(ForeignKey("kyc_bundles.id", ondelete="CASCADE"))
    document_type: Mapped[str] = mapped_column(String(40))
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    blob_id: Mapped[str] = mapped_column(String(80))
