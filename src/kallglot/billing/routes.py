"""Billing and analytics HTTP routes (thin: the logic lives in the billing modules)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from kallglot.accounts.dependencies import PUBLIC, require
from kallglot.accounts.permissions import Permission
from kallglot.accounts.principal import Principal
from kallglot.billing import analytics, service, webhooks
from kallglot.billing.invoices import issue_invoice, render_pdf
from kallglot.billing.models import Invoice, UsageRecord
from kallglot.billing.schemas import (
    BillingOut,
    BillingProfileIn,
    CheckoutIn,
    CheckoutOut,
    InvoiceIn,
    InvoiceOut,
    UsageOut,
)
from kallglot.billing.stripe_gateway import StripeGateway
from kallglot.core.clock import utcnow
from kallglot.core.errors import NotFoundError, ServiceUnavailableError
from kallglot.core.instants import Instant, check_window
from kallglot.http.deps import AppSettings, DbSession
from kallglot.http.pagination import Page, Pagination, paginate

router = APIRouter(prefix="/v1/billing", tags=["billing"])
Reader = Annotated[Principal, require(Permission.BILLING_READ)]
Manager = Annotated[Principal, require(Permission.BILLING_MANAGE)]


@router.get("", summary="The organization's billing account, credit and status")
def get_billing(principal: Reader, db: DbSession) -> BillingOut:
    return service.summary(db, principal.organization_id)


@router.put("/profile", summary="Set the enterprise billing details (VAT id, IBAN, PO)")
def put_profile(body: BillingProfileIn, principal: Manager, db: DbSession) -> BillingOut:
    service.set_profile(db, principal.organization_id, body)
    return service.summary(db, principal.organization_id)


@router.post("/checkout", summary="A Stripe Checkout page to add a payment method")
def post_checkout(
    body: CheckoutIn, principal: Manager, db: DbSession, settings: AppSettings
) -> CheckoutOut:
    account = service.account_for(db, principal.organization_id)
    url = StripeGateway.from_settings(settings).setup_checkout(
        account, body.success_url, body.cancel_url
    )
    return CheckoutOut(url=url)


@router.post("/subscription", summary="Subscribe to the metered plan")
def post_subscription(principal: Manager, db: DbSession, settings: AppSettings) -> BillingOut:
    account = service.account_for(db, principal.organization_id)
    StripeGateway.from_settings(settings).subscribe(account)
    return service.summary(db, principal.organization_id)


@router.get("/usage", summary="Usage records, newest first")
def list_usage(principal: Reader, db: DbSession, page: Pagination) -> Page[UsageOut]:
    statement = select(UsageRecord).where(UsageRecord.organization_id == principal.organization_id)
    return paginate(
        db,
        statement,
        UsageRecord.id,
        page,
        lambda row: UsageOut.model_validate(row, from_attributes=True),
    )


@router.post("/invoices", status_code=201, summary="Issue an enterprise invoice for a period")
def post_invoice(
    body: InvoiceIn, principal: Manager, db: DbSession, settings: AppSettings
) -> InvoiceOut:
    invoice = issue_invoice(
        db, settings, principal.organization_id, body.period_start, body.period_end
    )
    return InvoiceOut.model_validate(invoice, from_attributes=True)


@router.get("/invoices/{invoice_id}/pdf", summary="The invoice as PDF")
def get_invoice_pdf(
    invoice_id: str, principal: Reader, db: DbSession, settings: AppSettings
) -> Response:
    invoice = db.get(Invoice, invoice_id)
    if invoice is None or invoice.organization_id != principal.organization_id:
        raise NotFoundError(f"No invoice '{invoice_id}'.", code="invoice_not_found")
    return Response(render_pdf(invoice, settings), media_type="application/pdf")


@router.post("/stripe/webhook", dependencies=[PUBLIC], summary="Stripe events (signed)")
async def stripe_webhook(request: Request, settings: AppSettings) -> dict[str, bool]:
    if settings.stripe_webhook_secret is None:
        raise ServiceUnavailableError(
            "Stripe webhooks are not configured.", code="billing_unavailable"
        )
    event = webhooks.verify(
        await request.body(),
        request.headers.get("Stripe-Signature"),
        settings.stripe_webhook_secret.get_secret_value(),
        settings.stripe_webhook_tolerance_seconds,
    )
    with request.app.state.sessions.begin() as db:
        applied = webhooks.apply(db, event)
    return {"received": True, "applied": applied}


analytics_router = APIRouter(prefix="/v1/analytics", tags=["analytics"])
Analyst = Annotated[Principal, require(Permission.ANALYTICS_READ)]


def _window(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    end = until or utcnow()
    start = since or end - timedelta(days=30)
    check_window(start, end)
    return start, end


Since = Annotated[Instant | None, Query(description="start (default: 30 days ago)")]
Until = Annotated[Instant | None, Query(description="end (default: now)")]


@analytics_router.get("/minutes", summary="Sessions and billable minutes per day")
def get_minutes(
    principal: Analyst, db: DbSession, since: Since = None, until: Until = None
) -> dict[str, object]:
    rows = analytics.minutes_by_day(db, principal.organization_id, *_window(since, until))
    return {"object": "list", "data": rows}


@analytics_router.get("/minutes.csv", summary="Minutes per day as CSV")
def get_minutes_csv(
    principal: Analyst, db: DbSession, since: Since = None, until: Until = None
) -> Response:
    rows = analytics.minutes_by_day(db, principal.organization_id, *_window(since, until))
    return Response(analytics.minutes_csv(rows), media_type="text/csv")


@analytics_router.get("/language-pairs", summary="Calls per language pair")
def get_language_pairs(
    principal: Analyst, db: DbSession, since: Since = None, until: Until = None
) -> dict[str, object]:
    rows = analytics.calls_by_language_pair(db, principal.organization_id, *_window(since, until))
    return {"object": "list", "data": rows}


@analytics_router.get("/directions", summary="Calls by direction: inbound and outbound")
def get_directions(
    principal: Analyst, db: DbSession, since: Since = None, until: Until = None
) -> dict[str, object]:
    rows = analytics.calls_by_direction(db, principal.organization_id, *_window(since, until))
    return {"object": "list", "data": rows}


@analytics_router.get("/numbers", summary="Calls per phone number of the organization")
def get_numbers(
    principal: Analyst, db: DbSession, since: Since = None, until: Until = None
) -> dict[str, object]:
    rows = analytics.calls_by_number(db, principal.organization_id, *_window(since, until))
    return {"object": "list", "data": rows}


@analytics_router.get("/latency", summary="Average and p95 translation latency")
def get_latency(
    principal: Analyst, db: DbSession, since: Since = None, until: Until = None
) -> dict[str, float | int | None]:
    return analytics.latency(db, principal.organization_id, *_window(since, until))


@analytics_router.get("/agents", summary="Agent activity: online time, calls answered and missed")
def get_agents(
    principal: Analyst, db: DbSession, since: Since = None, until: Until = None
) -> dict[str, object]:
    rows = analytics.agent_activity(db, principal.organization_id, *_window(since, until))
    return {"object": "list", "data": rows}
