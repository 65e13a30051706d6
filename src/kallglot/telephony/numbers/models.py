"""Tables of phone numbers and their monthly rental."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kallglot.db.base import Base, IdMixin, TimestampMixin


class PhoneNumber(IdMixin, TimestampMixin, Base):
    """A number the organization owns (or brought over its own SIP trunk).

    The number itself is the organization's published business number, not a caller's:
    it is stored in the clear so calls can be matched to it.
    """

    __tablename__ = "phone_numbers"
    __table_args__ = (
        Index("ix_phone_numbers_org_id", "organization_id", "id"),
        Index("ix_phone_numbers_e164_status", "e164", "status"),
    )

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    number_type: Mapped[str] = mapped_column(String(20))
    carrier: Mapped[str] = mapped_column(String(20))
    carrier_ref: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="active")
    queue_id: Mapped[str | None] = mapped_column(
        ForeignKey("routing_queues.id", ondelete="SET NULL")
    )
    bundle_id: Mapped[str | None] = mapped_column(ForeignKey("kyc_bundles.id", ondelete="SET NULL"))
    # Languages callers are expected to speak; empty means auto-detect.
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    monthly_price_cents: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    released_at: Mapped[datetime | None]


class NumberRental(IdMixin, TimestampMixin, Base):
    """One month of rental of one number, for billing to pick up."""

    __tablename__ = "number_rentals"
    __table_args__ = (Index("ix_number_rentals_org_id", "organization_id", "id"),)

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    number_id: Mapped[str] = mapped_column(ForeignKey("phone_numbers.id", ondelete="CASCADE"))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
