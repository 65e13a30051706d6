"""Tables of billing: accounts, credit ledger, usage records, Stripe events, invoices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kallglot.core.clock import utcnow
from kallglot.db.base import Base, IdMixin, TimestampMixin


class BillingAccount(TimestampMixin, Base):
    """An organization's billing state: its Stripe customer and subscription, or its contract."""

    __tablename__ = "billing_accounts"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    # "metered" (Stripe subscription, card) or "contract" (enterprise, send_invoice).
    plan: Mapped[str] = mapped_column(String(20), default="metered")
    stripe_customer_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    subscription_status: Mapped[str | None] = mapped_column(String(30))
    # Stripe's ``created`` of the last subscription event applied: older deliveries are ignored.
    subscription_event_at: Mapped[int | None]
    last_invoice_status: Mapped[str | None] = mapped_column(String(30))
    last_invoice_event_at: Mapped[int | None]
    amount_paid_cents: Mapped[int] = mapped_column(default=0)
    hard_limit_minutes: Mapped[int | None]
    # Enterprise details; the bank account (IBAN) is encrypted at rest.
    company_name: Mapped[str | None] = mapped_column(String(200))
    billing_email: Mapped[str | None] = mapped_column(String(254))
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    country: Mapped[str | None] = mapped_column(String(2))
    vat_id: Mapped[str | None] = mapped_column(String(20))
    iban_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    bic: Mapped[str | None] = mapped_column(String(11))
    purchase_order: Mapped[str | None] = mapped_column(String(60))


class CreditEntry(IdMixin, Base):
    """One movement of an organization's prepaid credit, in seconds of session time."""

    __tablename__ = "billing_credit_entries"
    __table_args__ = (UniqueConstraint("organization_id", "reference"),)

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    seconds: Mapped[int]
    # What caused it, unique per organization: "grant:<key>", "session:<id>".
    reference: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageRecord(IdMixin, Base):
    """One metric of one session (or one number-day); immutable once reported to Stripe."""

    __tablename__ = "billing_usage_records"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    # ``{session_id}:{metric}`` (or ``{number_id}:{day}:numbers_rented``): the Stripe identifier.
    identifier: Mapped[str] = mapped_column(String(120), unique=True)
    source_id: Mapped[str] = mapped_column(String(40), index=True)
    metric: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[int]
    occurred_at: Mapped[datetime]
    reported_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StripeEvent(Base):
    """Each Stripe webhook event applied, stored in the transaction of its effect."""

    __tablename__ = "billing_stripe_events"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    type: Mapped[str] = mapped_column(String(80))
    created: Mapped[int]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class InvoiceSequence(Base):
    """The next invoice number per year; locked while an invoice is numbered (no gaps)."""

    __tablename__ = "billing_invoice_sequences"

    year: Mapped[int] = mapped_column(primary_key=True)
    next_number: Mapped[int] = mapped_column(default=1)


class Invoice(IdMixin, Base):
    """An enterprise invoice as issued; the PDF is rendered from these fields."""

    __tablename__ = "billing_invoices"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(20), unique=True)
    issued_at: Mapped[datetime]
    due_at: Mapped[datetime]
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    currency: Mapped[str] = mapped_column(String(3))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    net_cents: Mapped[int]
    vat_rate_percent: Mapped[float]
    vat_cents: Mapped[int]
    total_cents: Mapped[int]
    vat_treatment: Mapped[str] = mapped_column(String(20))
    # The buyer as invoiced (legal record), frozen at issue time.
    buyer: Mapped[dict[str, Any]] = mapped_column(JSON)
