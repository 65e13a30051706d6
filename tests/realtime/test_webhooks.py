"""Webhooks reach a real HTTP endpoint signed, and failures are retried with back-off."""

from __future__ import annotations

import json
from datetime import timedelta

import time_machine
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from kallglot.core.clock import utcnow
from kallglot.core.outbound import OutboundPolicy, parse_networks
from kallglot.realtime import webhooks
from kallglot.realtime.webhooks import WebhookDelivery, WebhookDispatcher, verify_signature
from tests.conftest import MigratedDatabase

# The test receivers listen on loopback, which the policy refuses unless allow-listed.
LOOPBACK_RECEIVERS = OutboundPolicy(
    https_only=False, allowed_networks=parse_networks(["127.0.0.0/8", "::1/128"])
)


def queue_event(database: MigratedDatabase, organization_id: str, url: str) -> str:
    with database.sessions.begin() as db:
        _endpoint, secret = webhooks.create_endpoint(db, organization_id, url, ["session.ended"])
        webhooks.emit(db, organization_id, "session.ended", {"id": "sess_1", "status": "ended"})
    return secret


def delivery(database: MigratedDatabase) -> WebhookDelivery:
    with database.sessions() as db:
        found = db.scalar(select(WebhookDelivery))
    assert found is not None
    return found


async def test_delivery_is_signed_and_logged(
    database: MigratedDatabase, organization_id: str, httpserver: HTTPServer
) -> None:
    received: list[Request] = []

    def handler(request: Request) -> Response:
        received.append(request)
        return Response("ok", status=200)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
    secret = queue_event(database, organization_id, httpserver.url_for("/hook"))
    async with WebhookDispatcher(database.sessions, LOOPBACK_RECEIVERS) as dispatcher:
        assert await dispatcher.deliver_due() == 1
    request = received[0]
    body = request.get_data()
    assert verify_signature(
        secret,
        request.headers["Kallglot-Signature"],
        body,
        tolerance_s=300,
        now=int(utcnow().timestamp()),
    )
    assert not verify_signature(
        "whsec_wrong", request.headers["Kallglot-Signature"], body, 300, int(utcnow().timestamp())
    )
    envelope = json.loads(body)
    assert envelope["type"] == "session.ended"
    assert envelope["id"].startswith("evt_")
    assert request.headers["Kallglot-Retry-Count"] == "0"
    logged = delivery(database)
    assert logged.status == "succeeded"
    assert logged.last_status_code == 200


async def test_failures_are_retried_with_back_off_then_given_up(
    database: MigratedDatabase, organization_id: str, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("no", status=500)
    queue_event(database, organization_id, httpserver.url_for("/hook"))
    async with WebhookDispatcher(database.sessions, LOOPBACK_RECEIVERS) as dispatcher:
        assert await dispatcher.deliver_due() == 1
        first = delivery(database)
        assert first.status == "pending"
        assert first.attempts == 1
        assert first.next_attempt_at is not None
        assert timedelta(minutes=1) <= first.next_attempt_at - utcnow() <= timedelta(minutes=2)
        assert await dispatcher.deliver_due() == 0  # not due yet
        start = utcnow()
        for attempt in range(1, webhooks.MAX_ATTEMPTS):
            with time_machine.travel(start + timedelta(days=2 * attempt)):
                assert await dispatcher.deliver_due() == 1
    final = delivery(database)
    assert final.status == "failed"
    assert final.attempts == webhooks.MAX_ATTEMPTS
    assert final.last_status_code == 500


def test_the_former_event_name_is_delivered_as_transcript_ready(
    database: MigratedDatabase, organization_id: str
) -> None:
    with database.sessions.begin() as db:
        # Subscribed under either name; emitted under the former one.
        for events in (["transcript.ready"], ["transcript.completed"]):
            webhooks.create_endpoint(db, organization_id, "https://hooks.example.com/", events)
        webhooks.emit(db, organization_id, "transcript.completed", {"session_id": "sess_1"})
    with database.sessions() as db:
        types = list(db.scalars(select(webhooks.WebhookEvent.type)))
        deliveries = list(db.scalars(select(WebhookDelivery)))
    assert types == ["transcript.ready"]
    assert len(deliveries) == 2
