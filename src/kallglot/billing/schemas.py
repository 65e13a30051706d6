"""Billing and analytics request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, EmailStr, Field

from kallglot.core.instants import Instant
from kallglot.core.schemas import RequestModel


class Address(RequestModel):
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    postal_code: str = Field(min_length=1, max_length=20)
    city: str = Field(min_length=1, max_length=100)
    country: str = Field(pattern="^[A-Z]{2}$")


class BillingProfileIn(RequestModel):
    """Enterprise billing: invoiced by bank transfer under a contract."""

    company_name: str = Field(min_length=1, max_length=200)
    billing_email: EmailStr
    address: Address
    vat_id: str | None = Field(default=None, max_length=20)
    iban: str | None = Field(default=None, max_length=42)
    bic: str | None = Field(default=None, max_length=11)
    purchase_order: str | None = Field(default=None, max_length=60)
    plan: Literal["metered", "contract"] = "contract"
    hard_limit_minutes: int | None = Field(default=None, gt=0)


class CheckoutIn(RequestModel):
    success_url: str = Field(pattern="^https?://", max_length=500)
    cancel_url: str = Field(pattern="^https?://", max_length=500)


class CheckoutOut(BaseModel):
    url: str


class InvoiceIn(RequestModel):
    period_start: Instant
    period_end: Instant


class BillingOut(BaseModel):
    object: Literal["billing_account"] = "billing_account"
    organization_id: str
    plan: str
    subscription_status: str | None
    last_invoice_status: str | None
    amount_paid_cents: int
    credit_seconds: int
    stripe_customer_id: str | None
    company_name: str | None
    vat_id: str | None
    iban_last4: str | None
    purchase_order: str | None


class UsageOut(BaseModel):
    id: str
    identifier: str
    metric: str
    quantity: int
    occurred_at: datetime
    reported_at: datetime | None


class InvoiceOut(BaseModel):
    id: str
    number: str
    issued_at: datetime
    due_at: datetime
    net_cents: int
    vat_rate_percent: float
    vat_cents: int
    total_cents: int
    vat_treatment: str
