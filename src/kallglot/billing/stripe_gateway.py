"""Stripe through the official SDK: customers, subscriptions, setup Checkout, meter events.

Every call carries a deterministic idempotency key derived from the business operation, so a
retried operation (or a second node) never creates a second customer or subscription.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import stripe
from sqlalchemy import select
from sqlalchemy.orm import Session
from stripe.params import CustomerCreateParams, SubscriptionCreateParams

from kallglot.billing.metering import is_subscribed
from kallglot.billing.models import BillingAccount, UsageRecord
from kallglot.core.clock import utcnow
from kallglot.core.errors import ConflictError, ServiceUnavailableError, UpstreamError
from kallglot.core.settings import Settings

METER_EVENT_PREFIX = "kallglot_"
T = TypeVar("T")


class StripeGateway:
    def __init__(self, client: stripe.StripeClient, settings: Settings) -> None:
        self._client = client
        self._price_id = settings.stripe_price_id
        self._due_days = settings.billing_invoice_due_days

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeGateway:
        if settings.stripe_api_key is None:
            raise ServiceUnavailableError(
                "Stripe is not configured (KALLGLOT_STRIPE_API_KEY).", code="billing_unavailable"
            )
        client = stripe.StripeClient(
            settings.stripe_api_key.get_secret_value(),
            base_addresses={"api": settings.stripe_api_base},
            max_network_retries=2,
        )
        return cls(client, settings)

    def ensure_customer(self, account: BillingAccount) -> str:
        """The organization's Stripe customer, created once with its address and EU VAT id."""
        if account.stripe_customer_id:
            return account.stripe_customer_id
        params: CustomerCreateParams = {
            "name": account.company_name or account.organization_id,
            "metadata": {"organization_id": account.organization_id},
        }
        if account.billing_email:
            params["email"] = account.billing_email
        if account.address:
            params["address"] = {
                "line1": str(account.address.get("line1", "")),
                "line2": str(account.address.get("line2", "")),
                "postal_code": str(account.address.get("postal_code", "")),
                "city": str(account.address.get("city", "")),
                "country": str(account.address.get("country", "")),
            }
        if account.vat_id:
            params["tax_id_data"] = [{"type": "eu_vat", "value": account.vat_id}]
        if account.purchase_order:
            params["invoice_settings"] = {
                "custom_fields": [{"name": "PO number", "value": account.purchase_order}]
            }
        customer = self._call(
            lambda: self._client.v1.customers.create(
                params, {"idempotency_key": f"customer-create:{account.organization_id}"}
            )
        )
        account.stripe_customer_id = customer.id
        return customer.id

    def setup_checkout(self, account: BillingAccount, success_url: str, cancel_url: str) -> str:
        """A Checkout page in setup mode: the card goes to Stripe, never through Kallglot."""
        customer = self.ensure_customer(account)
        session = self._call(
            lambda: self._client.v1.checkout.sessions.create(
                {
                    "mode": "setup",
                    "customer": customer,
                    "currency": "eur",
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                    "metadata": {"organization_id": account.organization_id},
                },
                {"idempotency_key": f"setup-checkout:{account.organization_id}:{_minute()}"},
            )
        )
        return str(session.url)

    def subscribe(self, account: BillingAccount) -> None:
        """The metered subscription (``send_invoice`` for organizations on contract)."""
        if is_subscribed(account) and account.stripe_subscription_id:
            raise ConflictError(
                "The organization is already subscribed.", code="already_subscribed"
            )
        if not self._price_id:
            raise ServiceUnavailableError(
                "No Stripe price is configured (KALLGLOT_STRIPE_PRICE_ID).",
                code="billing_unavailable",
            )
        customer = self.ensure_customer(account)
        params: SubscriptionCreateParams = {
            "customer": customer,
            "items": [{"price": self._price_id}],
            "metadata": {"organization_id": account.organization_id},
        }
        if account.plan == "contract":
            params["collection_method"] = "send_invoice"
            params["days_until_due"] = self._due_days
        subscription = self._call(
            lambda: self._client.v1.subscriptions.create(
                params, {"idempotency_key": f"subscription-create:{customer}"}
            )
        )
        account.stripe_subscription_id = subscription.id
        account.subscription_status = subscription.status
        account.subscription_event_at = subscription.created

    def report_usage(self, db: Session) -> int:
        """Send every unreported usage record of subscribed customers as a meter event, once."""
        rows = db.execute(
            select(UsageRecord, BillingAccount)
            .join(BillingAccount, BillingAccount.organization_id == UsageRecord.organization_id)
            .where(
                UsageRecord.reported_at.is_(None), BillingAccount.stripe_customer_id.is_not(None)
            )
            .order_by(UsageRecord.occurred_at, UsageRecord.id)
        ).all()
        reported = 0
        for record, account in rows:
            if not is_subscribed(account):
                continue
            if record.quantity > 0:
                self._send(record, str(account.stripe_customer_id))
                reported += 1
            record.reported_at = utcnow()
            db.flush()
        return reported

    def _send(self, record: UsageRecord, customer_id: str) -> None:
        self._call(
            lambda: self._client.v1.billing.meter_events.create(
                {
                    "event_name": METER_EVENT_PREFIX + record.metric,
                    "identifier": record.identifier,
                    "timestamp": int(record.occurred_at.timestamp()),
                    "payload": {"stripe_customer_id": customer_id, "value": str(record.quantity)},
                },
                {"idempotency_key": f"meter-event:{record.identifier}"},
            )
        )

    @staticmethod
    def _call(operation: Callable[[], T]) -> T:
        try:
            return operation()
        except stripe.StripeError as exc:
            raise UpstreamError(
                f"Stripe refused the request: {exc.user_message or type(exc).__name__}",
                code="stripe_error",
            ) from exc


def _minute() -> str:
    now: datetime = utcnow()
    return now.strftime("%Y%m%dT%H%M")
