"""The webhook endpoint API (`/v1/webhooks`) over HTTP: register, list, remove, the delivery
log, and another organization's endpoints out of reach. Every event type reaches a real
HTTP receiver signed as documented; the signature is checked here with our own HMAC
computation (not the product's), and a failing endpoint is retried on the documented
schedule (about 41 hours) on a clock the test moves."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta

import numpy as np
import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from kallglot.accounts.permissions import Role
from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.core.outbound import OutboundPolicy, parse_networks
from kallglot.core.settings import Settings
from kallglot.realtime import service
from kallglot.realtime.models import CallSession, TranscriptTurn
from kallglot.realtime.recording import Recorder
from kallglot.realtime.recordings import store_recording
from kallglot.realtime.state import SessionStatus
from kallglot.realtime.transcripts import seal_turn_text
from kallglot.realtime.webhooks import WebhookDelivery, WebhookDispatcher
from tests.conftest import MigratedDatabase
from tests.factories import Identity

# The receivers here listen on loopback, which the outbound policy refuses unless allowed.
LOOPBACK = ["127.0.0.0/8", "::1/128"]
LOOPBACK_RECEIVERS = OutboundPolicy(https_only=False, allowed_networks=parse_networks(LOOPBACK))
ALL_EVENTS = [
    "recording.ready",
    "session.created",
    "session.ended",
    "session.started",
    "transcript.ready",
]
# The documented back-off after attempts 1..7; attempt 8 is the last.
SCHEDULE = [
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=24),
]
JITTER = 0.1  # each delay is stretched by up to a tenth, to spread retries


def signature_holds(secret: str, header: str, body: bytes, now: datetime) -> bool:
    """``Kallglot-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``, within
    five minutes of ``now``: computed here from the documentation, independently of
    ``kallglot.realtime.webhooks``."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    signed = fields["t"].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs(now.timestamp() - int(fields["t"])) <= 300
    return fresh and hmac.compare_digest(expected, fields["v1"])


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings, with loopback receivers allowed (as an on-premises allow-list)."""
    return settings.model_copy(update={"outbound_allowed_networks": LOOPBACK})


def register(client: TestClient, url: str, events: list[str]) -> dict[str, str]:
    created = client.post("/v1/webhooks", json={"url": url, "events": events})
    assert created.status_code == 201, created.text
    body: dict[str, str] = created.json()
    return body


def test_endpoints_are_registered_listed_and_removed_by_their_organization_only(
    identity: Identity,
) -> None:
    ours, theirs = identity.organization(), identity.organization("Other Org")
    admin, other_admin = (
        identity.client_as(Role.ADMIN, ours),
        identity.client_as(Role.ADMIN, theirs),
    )

    created = register(admin, "https://hooks.example.com/k", ["session.ended", "session.ended"])
    assert created["object"] == "webhook_endpoint"
    assert created["secret"].startswith("whsec_")  # shown once, here
    assert created["events"] == ["session.ended"]
    assert created["enabled"] is True

    listed = admin.get("/v1/webhooks").json()["data"]
    assert [e["id"] for e in listed] == [created["id"]]
    assert listed[0]["secret"] is None  # never shown again
    assert other_admin.get("/v1/webhooks").json()["data"] == []

    # Another organization can neither read the log of nor remove our endpoint.
    for attempt in (
        other_admin.get(f"/v1/webhooks/{created['id']}/deliveries"),
        other_admin.delete(f"/v1/webhooks/{created['id']}"),
    ):
        assert attempt.status_code == 404
        assert attempt.json()["error"]["code"] == "webhook_not_found"
    assert admin.get(f"/v1/webhooks/{created['id']}/deliveries").json()["data"] == []

    assert admin.delete(f"/v1/webhooks/{created['id']}").status_code == 204
    assert admin.get("/v1/webhooks").json()["data"] == []
    gone = admin.delete(f"/v1/webhooks/{created['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "webhook_not_found"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"url": "https://hooks.example.com/k", "events": ["session.exploded"]}, "events"),
        ({"url": "https://hooks.example.com/k", "events": []}, "events"),
        ({"url": "not a url", "events": ["session.ended"]}, "url"),
    ],
)
def test_an_invalid_endpoint_is_refused_with_the_field_named(
    identity: Identity, body: dict[str, object], param: str
) -> None:
    admin = identity.client_as(Role.ADMIN)
    refused = admin.post("/v1/webhooks", json=body)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "validation_error",
        "invalid_field_value",
        param,
    )
    assert admin.get("/v1/webhooks").json()["data"] == []


def test_a_role_without_webhook_management_is_refused(identity: Identity) -> None:
    organization = identity.organization()
    admin = identity.client_as(Role.ADMIN, organization)
    created = register(admin, "https://hooks.example.com/k", ["session.ended"])
    agent = identity.client_as(Role.AGENT, organization)
    for attempt in (
        agent.get("/v1/webhooks"),
        agent.post("/v1/webhooks", json={"url": "https://x.example/", "events": ["session.ended"]}),
        agent.delete(f"/v1/webhooks/{created['id']}"),
        agent.get(f"/v1/webhooks/{created['id']}/deliveries"),
    ):
        assert attempt.status_code == 403, attempt.text
    assert [e["id"] for e in admin.get("/v1/webhooks").json()["data"]] == [created["id"]]


def _a_whole_call(database: MigratedDatabase, app: FastAPI, client: TestClient) -> str:
    """A session through its life: created over the API, started, a turn said, ended, its
    recording stored. Returns the session id."""
    created = client.post("/v1/sessions", json={"mode": "transcription"})
    assert created.status_code == 201, created.text
    session_id: str = created.json()["id"]
    with database.sessions.begin() as db:
        call = db.get(CallSession, session_id)
        assert call is not None
        service.transition(db, call, SessionStatus.CONNECTING, "connected")
        service.transition(db, call, SessionStatus.ACTIVE)
        turn_id = new_id("turn")
        text, _ = seal_turn_text(db, call.organization_id, turn_id, "Hallo", None)
        db.add(
            TranscriptTurn(
                id=turn_id,
                session_id=call.id,
                organization_id=call.organization_id,
                sequence=1,
                speaker="caller",
                language="de",
                text_encrypted=text,
                start_ms=0,
                end_ms=800,
            )
        )
        db.flush()
        service.finish(db, call, "api")
        recorder = Recorder()
        recorder.add(Recorder.ORIGINAL, "caller", np.zeros(1600, dtype="<i2").tobytes())
        store_recording(db, app.state.realtime.blobs, call, recorder)
    return session_id


async def test_every_event_type_is_delivered_signed_and_logged(
    identity: Identity, database: MigratedDatabase, app: FastAPI, httpserver: HTTPServer
) -> None:
    received: list[Request] = []

    def handler(request: Request) -> Response:
        received.append(request)
        return Response("ok", status=200)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
    organization = identity.organization()
    admin = identity.client_as(Role.ADMIN, organization)
    endpoint = register(admin, httpserver.url_for("/hook"), ALL_EVENTS)
    session_id = _a_whole_call(database, app, identity.key_client(identity.api_key(organization)))

    # One recording.ready per recorded channel: the agent's, the customer's and the mix.
    expected = sorted([*ALL_EVENTS, "recording.ready", "recording.ready"])
    async with WebhookDispatcher(database.sessions, LOOPBACK_RECEIVERS) as dispatcher:
        assert await dispatcher.deliver_due() == len(expected)
    envelopes = []
    for request in received:
        body = request.get_data()
        assert signature_holds(
            endpoint["secret"], request.headers["Kallglot-Signature"], body, utcnow()
        )
        assert not signature_holds(
            "whsec_wrong", request.headers["Kallglot-Signature"], body, utcnow()
        )
        assert request.headers["Kallglot-Retry-Count"] == "0"
        envelopes.append(json.loads(body))
    assert sorted(e["type"] for e in envelopes) == expected
    by_type = {e["type"]: e for e in envelopes}
    for kind in ("session.created", "session.started", "session.ended"):
        assert by_type[kind]["data"]["id"] == session_id
    assert by_type["session.ended"]["data"]["status"] == "ended"
    assert by_type["transcript.ready"]["data"]["session_id"] == session_id
    recordings = [e["data"] for e in envelopes if e["type"] == "recording.ready"]
    assert {r["session_id"] for r in recordings} == {session_id}
    assert sorted(r["channel"] for r in recordings) == ["agent", "customer", "mixed"]
    assert all(e["api_version"] == "v1" and e["id"].startswith("evt_") for e in envelopes)

    log = admin.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()["data"]
    assert len(log) == len(expected)
    assert {d["event_id"] for d in log} == {e["id"] for e in envelopes}
    for entry in log:
        assert (entry["status"], entry["attempts"], entry["last_status_code"]) == (
            "succeeded",
            1,
            200,
        )
        assert entry["delivered_at"] is not None and entry["next_attempt_at"] is None


async def test_a_failing_endpoint_is_retried_for_about_41_hours_then_given_up(
    identity: Identity, database: MigratedDatabase, app: FastAPI, httpserver: HTTPServer
) -> None:
    retry_counts: list[str] = []

    def refuse(request: Request) -> Response:
        retry_counts.append(request.headers["Kallglot-Retry-Count"])
        return Response("down", status=500)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(refuse)
    organization = identity.organization()
    admin = identity.client_as(Role.ADMIN, organization)
    endpoint = register(admin, httpserver.url_for("/hook"), ["session.created"])
    created = identity.key_client(identity.api_key(organization)).post(
        "/v1/sessions", json={"mode": "transcription"}
    )
    assert created.status_code == 201

    start = utcnow()
    now = start
    async with WebhookDispatcher(database.sessions, LOOPBACK_RECEIVERS) as dispatcher:
        with time_machine.travel(now, tick=False) as clock:
            assert await dispatcher.deliver_due() == 1  # the first attempt is immediate
            for delay in SCHEDULE:
                due = _next_attempt(database)
                assert due is not None
                waited = due - now
                assert delay <= waited <= delay * (1 + JITTER) + timedelta(seconds=1)
                clock.move_to(due - timedelta(seconds=1))
                assert await dispatcher.deliver_due() == 0  # not before its time
                now = due
                clock.move_to(now)
                assert await dispatcher.deliver_due() == 1
    assert _next_attempt(database) is None  # given up: nothing is scheduled any more
    schedule = sum(SCHEDULE, timedelta())
    assert schedule == timedelta(hours=41, minutes=36)
    assert schedule <= now - start <= schedule * (1 + JITTER) + timedelta(seconds=len(SCHEDULE))
    assert retry_counts == [str(n) for n in range(len(SCHEDULE) + 1)]

    (entry,) = admin.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()["data"]
    assert (entry["status"], entry["attempts"], entry["last_status_code"]) == ("failed", 8, 500)
    assert entry["delivered_at"] is None and entry["next_attempt_at"] is None


def _next_attempt(database: MigratedDatabase) -> datetime | None:
    with database.sessions() as db:
        delivery = db.scalar(select(WebhookDelivery))
    assert delivery is not None
    due = delivery.next_attempt_at
    return None if due is None else due.replace(tzinfo=due.tzinfo or utcnow().tzinfo)
