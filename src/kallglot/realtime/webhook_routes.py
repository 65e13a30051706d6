"""Webhook endpoints of an organization and their delivery log."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Annotated, Literal

from anyio import from_thread
from fastapi import APIRouter, Request
from pydantic import Field, HttpUrl, field_validator
from sqlalchemy import select

from kallglot.accounts.dependencies import require
from kallglot.accounts.permissions import Permission
from kallglot.accounts.principal import Principal
from kallglot.core.errors import NotFoundError
from kallglot.core.outbound import OutboundPolicy
from kallglot.core.schemas import RequestModel, ResponseModel
from kallglot.http.deps import DbSession
from kallglot.http.pagination import Page, Pagination, paginate
from kallglot.realtime import webhooks
from kallglot.realtime.webhooks import (
    EVENT_TYPES,
    LEGACY_EVENT_TYPES,
    WebhookDelivery,
    WebhookEndpoint,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
Manager = Annotated[Principal, require(Permission.WEBHOOKS_MANAGE)]


class CreateEndpoint(RequestModel):
    url: HttpUrl
    events: list[str] = Field(min_length=1, max_length=len(EVENT_TYPES))

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - EVENT_TYPES - LEGACY_EVENT_TYPES.keys())
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {sorted(EVENT_TYPES)}")
        return value


class EndpointOut(ResponseModel):
    id: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    url: str
    events: list[str]
    enabled: bool
    created_at: datetime
    secret: str | None = None


class DeliveryOut(ResponseModel):
    id: str
    object: Literal["webhook_delivery"] = "webhook_delivery"
    event_id: str
    status: str
    attempts: int
    last_status_code: int | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


def _endpoint_out(endpoint: WebhookEndpoint, secret: str | None = None) -> EndpointOut:
    return EndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        events=endpoint.event_types,
        enabled=endpoint.enabled,
        created_at=endpoint.created_at,
        secret=secret,
    )


def _owned(db: DbSession, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
    endpoint = db.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.organization_id != principal.organization_id:
        raise NotFoundError(f"No webhook endpoint '{endpoint_id}'.", code="webhook_not_found")
    return endpoint


@router.post("", status_code=201, summary="Register an endpoint (the secret is shown once)")
def create_endpoint(
    body: CreateEndpoint, principal: Manager, db: DbSession, request: Request
) -> EndpointOut:
    policy: OutboundPolicy = request.app.state.outbound_policy
    # The route runs in a worker thread; the name is resolved on the event loop.
    from_thread.run(functools.partial(policy.check, str(body.url)))
    endpoint, secret = webhooks.create_endpoint(
        db, principal.organization_id, str(body.url), body.events
    )
    return _endpoint_out(endpoint, secret)


@router.get("", summary="List endpoints")
def list_endpoints(principal: Manager, db: DbSession, page: Pagination) -> Page[EndpointOut]:
    statement = select(WebhookEndpoint).where(
        WebhookEndpoint.organization_id == principal.organization_id
    )
    return paginate(db, statement, WebhookEndpoint.id, page, lambda e: _endpoint_out(e))


@router.delete("/{endpoint_id}", status_code=204, summary="Remove an endpoint")
def delete_endpoint(endpoint_id: str, principal: Manager, db: DbSession) -> None:
    db.delete(_owned(db, principal, endpoint_id))


@router.get("/{endpoint_id}/deliveries", summary="The endpoint's delivery log")
def list_deliveries(
    endpoint_id: str, principal: Manager, db: DbSession, page: Pagination
) -> Page[DeliveryOut]:
    endpoint = _owned(db, principal, endpoint_id)
    statement = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    return paginate(db, statement, WebhookDelivery.id, page, DeliveryOut.model_validate)
