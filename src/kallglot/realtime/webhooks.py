"""Webhooks: a durable outbox, HMAC-signed deliveries, retries with back-off, a delivery log.

Signature (as the public Kallglot API): ``Kallglot-Signature: t=<unix>,v1=<hex>`` where
``v1 = HMAC-SHA256(secret, "<t>.<raw body>")``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import JSON, ForeignKey, LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from kallglot.core.clock import utcnow
from kallglot.core.errors import ValidationFailedError
from kallglot.core.ids import new_id, new_token
from kallglot.core.outbound import OutboundPolicy, refused_by_policy
from kallglot.core.threads import run_to_completion
from kallglot.crypto import decrypt_text, encrypt_field
from kallglot.db.base import Base, IdMixin, TimestampMixin
from kallglot.db.engine import transaction

logger = logging.getLogger(__name__)

API_VERSION = "v1"
# Delay before attempt n+1 (attempt 1 is immediate): 1 min, 5 min, 30 min, 2 h, 5 h, 10 h, 24 h.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
DESTINATION_NOT_ALLOWED = "destination_not_allowed"
# The public API's event catalogue. Some are accepted in subscriptions before this server
# emits them (see docs/api.md): transcript.segment, session.provider.*, analysis.*.
EVENT_TYPES = frozenset(
    {
        "session.created",
        "session.started",
        "session.ended",
        "transcript.ready",
        "transcript.segment",
        "recording.ready",
        "recording.failed",
        "analysis.complete",
        "analysis.failed",
        "session.provider.connected",
        "session.provider.disconnected",
    }
)
# Our former names: still accepted in subscriptions and from emitters, delivered as the new name.
LEGACY_EVENT_TYPES = {"transcript.completed": "transcript.ready"}


def public_event_type(event_type: str) -> str:
    return LEGACY_EVENT_TYPES.get(event_type, event_type)


class WebhookEndpoint(IdMixin, TimestampMixin, Base):
    __tablename__ = "webhook_endpoints"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    event_types: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(default=True)


class WebhookEvent(IdMixin, TimestampMixin, Base):
    """The outbox: written in the same transaction as the change it announces."""

    __tablename__ = "webhook_events"

    organization_id: Mapped[str] = mapped_column(String(40), index=True)
    type: Mapped[str] = mapped_column(String(60))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class WebhookDelivery(IdMixin, TimestampMixin, Base):
    __tablename__ = "webhook_deliveries"

    event_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow, index=True)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_signature(secret: str, header: str, body: bytes, tolerance_s: int, now: int) -> bool:
    """For receivers (and our tests): constant-time check plus a replay window."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def create_endpoint(
    session: Session, organization_id: str, url: str, event_types: list[str]
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (shown once; stored encrypted)."""
    endpoint_id = new_id("wh")
    secret = new_token("whsec", 24)
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        organization_id=organization_id,
        url=url,
        secret_encrypted=encrypt_field(
            session, organization_id, WebhookEndpoint.__tablename__, endpoint_id, "secret", secret
        ),
        event_types=sorted({public_event_type(name) for name in event_types}),
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def endpoint_secret(session: Session, endpoint: WebhookEndpoint) -> str:
    return decrypt_text(
        session, WebhookEndpoint.__tablename__, endpoint.id, "secret", endpoint.secret_encrypted
    )


def emit(session: Session, organization_id: str, event_type: str, data: dict[str, Any]) -> None:
    """Queue an event for every endpoint that wants it, in the caller's transaction."""
    event_type = public_event_type(event_type)
    endpoints = session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.organization_id == organization_id, WebhookEndpoint.enabled.is_(True)
        )
    ).all()
    wanted = [
        endpoint
        for endpoint in endpoints
        if event_type in {public_event_type(name) for name in endpoint.event_types}
    ]
    if not wanted:
        return
    webhook_event = WebhookEvent(
        id=new_id("evt"), organization_id=organization_id, type=event_type, data=data
    )
    session.add(webhook_event)
    session.flush()
    session.add_all(
        WebhookDelivery(id=new_id("wh_del"), event_id=webhook_event.id, endpoint_id=endpoint.id)
        for endpoint in wanted
    )


def envelope(webhook_event: WebhookEvent) -> bytes:
    return json.dumps(
        {
            "id": webhook_event.id,
            "type": webhook_event.type,
            "api_version": API_VERSION,
            "created_at": webhook_event.created_at.isoformat(),
            "data": webhook_event.data,
        },
        separators=(",", ":"),
    ).encode()


class WebhookDispatcher:
    """Delivers due deliveries; run :meth:`run` as a task, or :meth:`deliver_due` once.

    Use it as an async context manager: it owns its HTTP client, whose every connection goes
    through the outbound ``policy`` (so a refused address is never dialled, whatever the
    endpoint's URL says today).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        policy: OutboundPolicy,
        timeout_s: float = 30.0,
        poll_interval_s: float = 1.0,
        batch_size: int = 50,
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._client = httpx.AsyncClient(transport=policy.transport(), follow_redirects=False)
        self._timeout_s = timeout_s
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size

    async def __aenter__(self) -> WebhookDispatcher:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._client.aclose()

    async def run(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except Exception:
                logger.exception("webhook dispatch round failed")
            await asyncio.sleep(self._poll_interval_s)

    async def deliver_due(self) -> int:
        due = await run_to_completion(self._due)
        for delivery_id, url, secret, body, attempts, created in due:
            await self._attempt(delivery_id, url, secret, body, attempts, created)
        return len(due)

    def _due(self) -> list[tuple[str, str, str, bytes, int, int]]:
        with self._sessions() as session:
            rows = session.execute(
                select(WebhookDelivery, WebhookEndpoint, WebhookEvent)
                .join(WebhookEndpoint, WebhookDelivery.endpoint_id == WebhookEndpoint.id)
                .join(WebhookEvent, WebhookDelivery.event_id == WebhookEvent.id)
                .where(
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= utcnow(),
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(self._batch_size)
            ).all()
            return [
                (
                    delivery.id,
                    endpoint.url,
                    endpoint_secret(session, endpoint),
                    envelope(event),
                    delivery.attempts,
                    int(event.created_at.timestamp()),
                )
                for delivery, endpoint, event in rows
            ]

    async def _attempt(
        self, delivery_id: str, url: str, secret: str, body: bytes, attempts: int, created: int
    ) -> None:
        timestamp = int(utcnow().timestamp())
        headers = {
            "Content-Type": "application/json",
            "Kallglot-Signature": sign(secret, timestamp, body),
            "Kallglot-Webhook-Id": delivery_id,
            "Kallglot-Retry-Count": str(attempts),
            # Unix seconds of the event, the same on every attempt (the signature's ``t`` is
            # the attempt's own time).
            "Kallglot-Original-Timestamp": str(created),
            "User-Agent": "Kallglot-Webhooks/1",
        }
        status_code: int | None = None
        error: str | None = None
        try:
            self._policy.check_url(url)
            response = await self._client.post(
                url, content=body, headers=headers, timeout=self._timeout_s
            )
            status_code = response.status_code
        except ValidationFailedError:
            error = DESTINATION_NOT_ALLOWED
        except httpx.HTTPError as exc:
            # A refused address is reported as such, never as a connection error that would
            # tell a port scan which ports are open.
            error = DESTINATION_NOT_ALLOWED if refused_by_policy(exc) else type(exc).__name__
        await run_to_completion(self._record, delivery_id, status_code, error)

    def _record(self, delivery_id: str, status_code: int | None, error: str | None) -> None:
        with transaction(self._sessions) as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return
            delivery.attempts += 1
            delivery.last_status_code = status_code
            delivery.last_error = error
            if status_code is not None and 200 <= status_code < 300:
                delivery.status = "succeeded"
                delivery.delivered_at = utcnow()
                delivery.next_attempt_at = None
            elif delivery.attempts >= MAX_ATTEMPTS:
                delivery.status = "failed"
                delivery.next_attempt_at = None
            else:
                delay = RETRY_DELAYS[delivery.attempts - 1]
                jitter = delay * random.uniform(0, 0.1)  # noqa: S311 - spreading load, not security
                delivery.next_attempt_at = utcnow() + delay + jitter
