"""Subscribe → sessions → usage reported once → webhooks twice and out of order → right state."""

from __future__ import annotations

import json
import time

from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from werkzeug import Request, Response

from kallglot.accounts.permissions import Role
from kallglot.billing import metering
from kallglot.billing.models import BillingAccount, StripeEvent, UsageRecord
from kallglot.billing.stripe_gateway import StripeGateway
from kallglot.core.settings import Settings
from kallglot.db.engine import transaction
from tests.billing.conftest import PRICE_ID, SignIn, deliver, ended_session, stripe_event
from tests.conftest import MigratedDatabase
from tests.factories import Identity

CUSTOMER = "cus_NffrFeUfNV2Hib"
SUBSCRIPTION = "sub_1MowQVLkdIwHu7ixeRlqHVzs"
PROFILE = {
    "company_name": "Dolmetsch Müller GmbH",
    "billing_email": "rechnung@example.de",
    "address": {
        "line1": "Hauptstraße 5",
        "postal_code": "80331",
        "city": "München",
        "country": "DE",
    },
    "vat_id": "DE136695976",
    "plan": "metered",
}


def _customer_json(organization_id: str) -> dict[str, object]:
    return {
        "id": CUSTOMER,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": 1680893993,
        "currency": None,
        "email": PROFILE["billing_email"],
        "livemode": False,
        "metadata": {"organization_id": organization_id},
        "name": PROFILE["company_name"],
    }


def _subscription_json(status: str = "active") -> dict[str, object]:
    return {
        "id": SUBSCRIPTION,
        "object": "subscription",
        "collection_method": "charge_automatically",
        "created": 1679609767,
        "currency": "eur",
        "customer": CUSTOMER,
        "items": {"object": "list", "data": [], "has_more": False, "url": "/v1/subscription_items"},
        "livemode": False,
        "metadata": {},
        "status": status,
    }


def _meter_event(request: Request) -> Response:
    body = {
        "object": "billing.meter_event",
        "created": 1704824589,
        "event_name": request.form["event_name"],
        "identifier": request.form["identifier"],
        "livemode": False,
        "payload": {
            "value": request.form["payload[value]"],
            "stripe_customer_id": request.form["payload[stripe_customer_id]"],
        },
        "timestamp": int(request.form["timestamp"]),
    }
    return Response(json.dumps(body), content_type="application/json")


def _invoice(status: str, paid: int) -> dict[str, object]:
    return {
        "id": "in_1MtHbELkdIwHu7ixl4OzzPMv",
        "object": "invoice",
        "customer": CUSTOMER,
        "subscription": SUBSCRIPTION,
        "status": status,
        "amount_due": 2700,
        "amount_paid": paid,
        "currency": "eur",
        "metadata": {"kallglot_credit_minutes": "30"},
    }


def test_subscription_usage_and_webhooks(
    identity: Identity,
    signed_in: SignIn,
    database: MigratedDatabase,
    settings: Settings,
    httpserver: HTTPServer,
) -> None:
    org = identity.organization(credit_minutes=0)
    billing = signed_in(Role.BILLING, org)
    owner = signed_in(Role.OWNER, org)
    session_body = {
        "mode": "bidirectional_translation",
        "source_language": "es",
        "target_language": "en",
    }

    refused = owner.post("/v1/sessions", json=session_body)
    assert refused.status_code == 402, refused.text
    assert refused.json()["error"]["code"] == "insufficient_api_credits"

    assert billing.put("/v1/billing/profile", json=PROFILE).status_code == 200
    httpserver.expect_ordered_request("/v1/customers", method="POST").respond_with_json(
        _customer_json(org.id)
    )
    httpserver.expect_ordered_request("/v1/subscriptions", method="POST").respond_with_json(
        _subscription_json()
    )
    subscribed = billing.post("/v1/billing/subscription")
    assert subscribed.status_code == 200, subscribed.text
    assert subscribed.json()["subscription_status"] == "active"
    (customer_req, _), (subscription_req, _) = httpserver.log[:2]
    assert customer_req.headers["Idempotency-Key"] == f"customer-create:{org.id}"
    assert customer_req.form["tax_id_data[0][type]"] == "eu_vat"
    assert customer_req.form["tax_id_data[0][value]"] == "DE136695976"
    assert customer_req.form["address[city]"] == "München"
    assert subscription_req.headers["Idempotency-Key"] == f"subscription-create:{CUSTOMER}"
    assert subscription_req.form["items[0][price]"] == PRICE_ID
    assert subscription_req.form["customer"] == CUSTOMER
    httpserver.check_assertions()
    httpserver.expect_ordered_request("/v1/checkout/sessions", method="POST").respond_with_json(
        {
            "id": "cs_test_a11YYufWQzNY63zpQ6QSNRQhkUpVph4WRmzW0zWJO2znZKdVujZ0N0S22u",
            "object": "checkout.session",
            "customer": CUSTOMER,
            "mode": "setup",
            "status": "open",
            "url": "https://checkout.stripe.com/c/pay/cs_test_a11YYufWQzNY63zpQ6QSNRQhkUpVph4WRmzW0",
        }
    )
    checkout = billing.post(
        "/v1/billing/checkout",
        json={"success_url": "https://app.example/ok", "cancel_url": "https://app.example/no"},
    )
    assert checkout.status_code == 200, checkout.text
    assert checkout.json()["url"].startswith("https://checkout.stripe.com/")
    checkout_req = httpserver.log[-1][0]
    assert (checkout_req.form["mode"], checkout_req.form["customer"]) == ("setup", CUSTOMER)

    for _ in range(3):
        assert owner.post("/v1/sessions", json=session_body).status_code == 201
    durations = {
        ended_session(database, org.id, s): m for s, m in ((89.5, 2), (29.5, 1), (599.5, 10))
    }

    httpserver.expect_request("/v1/billing/meter_events", method="POST").respond_with_handler(
        _meter_event
    )
    gateway = StripeGateway.from_settings(settings)
    for _ in range(2):  # the meter and the reporter both run twice
        with transaction(database.sessions) as db:
            metering.meter_ended_sessions(db)
            gateway.report_usage(db)
    events = [req for req, _ in httpserver.log if req.path == "/v1/billing/meter_events"]
    identifiers = [req.form["identifier"] for req in events]
    assert len(identifiers) == len(set(identifiers)) == 9  # 3 sessions x (session, 2 directions)
    for call_id, minutes in durations.items():
        sent = {
            req.form["event_name"]: req.form["payload[value]"]
            for req in events
            if req.form["identifier"].startswith(call_id)
        }
        assert sent == {
            "kallglot_session_minutes": str(minutes),
            "kallglot_translation_minutes_caller": str(minutes),
            "kallglot_translation_minutes_agent": str(minutes),
        }
    assert all(
        req.headers["Idempotency-Key"] == f"meter-event:{req.form['identifier']}" for req in events
    )

    now = int(time.time())
    paid = stripe_event("evt_paid", "invoice.paid", now - 10, _invoice("paid", 2700))
    failed = stripe_event("evt_failed", "invoice.payment_failed", now - 100, _invoice("open", 0))
    stale = stripe_event(
        "evt_sub_old", "customer.subscription.updated", 1679609000, _subscription_json("past_due")
    )
    for body in (paid, failed, paid, stale, failed):
        response = deliver(owner, body)
        assert response.status_code == 200, response.text

    tampered = paid.replace("2700", "9900").replace("evt_paid", "evt_forged")
    forged = deliver(owner, tampered, secret="whsec_wrong")
    assert forged.status_code == 400
    assert forged.json()["error"]["code"] == "invalid_signature"
    old = deliver(
        owner, stripe_event("evt_old", "invoice.paid", now, _invoice("paid", 1)), at=now - 3600
    )
    assert old.status_code == 400
    assert old.json()["error"]["code"] == "invalid_signature"

    state = billing.get("/v1/billing").json()
    assert state["subscription_status"] == "active"
    assert state["last_invoice_status"] == "paid"
    assert state["amount_paid_cents"] == 2700
    assert state["credit_seconds"] == 30 * 60  # the invoice's credit, granted once
    with database.sessions() as db:
        assert db.scalar(select(func.count()).select_from(StripeEvent)) == 3
        account = db.get(BillingAccount, org.id)
        assert account is not None and account.stripe_customer_id == CUSTOMER
        assert (
            db.scalar(
                select(func.count())
                .select_from(UsageRecord)
                .where(UsageRecord.reported_at.is_(None))
            )
            == 0
        )
