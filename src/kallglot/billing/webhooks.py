"""Stripe webhooks: verified, applied once, harmless when duplicated or out of order."""

from __future__ import annotations

from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.orm import Session

from kallglot.billing.metering import add_credit
from kallglot.billing.models import BillingAccount, StripeEvent
from kallglot.core.errors import InvalidRequestError


def verify(payload: bytes, signature: str | None, secret: str, tolerance: int) -> stripe.Event:
    """The event if Stripe signed it within ``tolerance`` seconds; 400 otherwise."""
    try:
        event: stripe.Event = stripe.Webhook.construct_event(
            payload, signature or "", secret, tolerance
        )
    except stripe.SignatureVerificationError:
        raise InvalidRequestError(
            "The Stripe signature is not valid.", code="invalid_signature"
        ) from None
    except ValueError:
        raise InvalidRequestError("The webhook body is not JSON.", code="invalid_json") from None
    return event


def apply(db: Session, event: stripe.Event) -> bool:
    """Apply the event and remember its id in the same transaction; False for a duplicate."""
    if db.get(StripeEvent, event.id) is not None:
        return False
    db.add(StripeEvent(id=event.id, type=event.type, created=event.created))
    data: dict[str, Any] = event.data.object.to_dict()
    handler = _HANDLERS.get(event.type)
    account = _account(db, data) if handler is not None else None
    if handler is not None and account is not None:
        handler(db, account, event.type, event.created, data)
    db.flush()
    return True


def _account(db: Session, data: dict[str, Any]) -> BillingAccount | None:
    customer = data.get("customer") if data.get("object") != "customer" else data.get("id")
    if not isinstance(customer, str):
        return None
    return db.scalar(select(BillingAccount).where(BillingAccount.stripe_customer_id == customer))


def _invoice(
    db: Session, account: BillingAccount, kind: str, created: int, data: dict[str, Any]
) -> None:
    paid = kind == "invoice.paid"
    if paid:
        account.amount_paid_cents += int(data.get("amount_paid") or 0)
        minutes = (data.get("metadata") or {}).get("kallglot_credit_minutes")
        if minutes:
            add_credit(db, account.organization_id, int(minutes) * 60, f"invoice:{data['id']}")
    # Status follows the newest event only: a failure delivered after a later payment is stale.
    if account.last_invoice_event_at is None or created >= account.last_invoice_event_at:
        account.last_invoice_status = "paid" if paid else "payment_failed"
        account.last_invoice_event_at = created


def _subscription(
    db: Session, account: BillingAccount, kind: str, created: int, data: dict[str, Any]
) -> None:
    if account.subscription_event_at is not None and created < account.subscription_event_at:
        return
    account.stripe_subscription_id = str(data["id"])
    account.subscription_status = "canceled" if kind.endswith("deleted") else str(data["status"])
    account.subscription_event_at = created


def _customer(
    db: Session, account: BillingAccount, kind: str, created: int, data: dict[str, Any]
) -> None:
    account.billing_email = data.get("email") or account.billing_email
    account.company_name = data.get("name") or account.company_name
    if data.get("address"):
        account.address = {k: v for k, v in data["address"].items() if v is not None}


_HANDLERS = {
    "invoice.paid": _invoice,
    "invoice.payment_failed": _invoice,
    "customer.subscription.created": _subscription,
    "customer.subscription.updated": _subscription,
    "customer.subscription.deleted": _subscription,
    "customer.updated": _customer,
}
