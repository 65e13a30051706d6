"""A client written from the public Kallglot API documentation only drives this server.

Everything the client sends and checks here is named as the public reference names it
(``/work/shared/reference/kallglot-public-api.md``): field names, scope names, error codes,
headers, the webhook signature. Nothing is imported from ``kallglot`` for the client side;
the server side is set up through the test factories (an organization and a key with the
documented scopes), as a customer would get them from the Developer Portal.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import re
import wave
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import soundfile  # type: ignore[import-untyped]
import time_machine
import websockets
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from werkzeug import Request
from werkzeug import Response as WerkzeugResponse

from kallglot.accounts.permissions import Permission
from kallglot.core.clock import utcnow
from kallglot.core.outbound import OutboundPolicy, parse_networks
from kallglot.realtime import webhooks
from kallglot.realtime.webhooks import WebhookDispatcher
from tests.conftest import sqlite_only
from tests.factories import Identity
from tests.realtime.conftest import mulaw_clip, serving

# The scopes the public documentation lists for an API key.
DOCUMENTED_SCOPES = (
    "sessions:read",
    "sessions:write",
    "recordings:read",
    "analysis:read",
    "analysis:write",
)


class DocumentedClient:
    """Speaks only what developer.kallglot.com documents."""

    def __init__(self, http: TestClient, api_key: str, organization_id: str = "") -> None:
        self.http = http
        self.api_key = api_key
        # Known from the portal, not from the API: where webhooks are configured.
        self.organization_id = organization_id

    def headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        found = {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}
        if idempotency_key is not None:
            found["Idempotency-Key"] = idempotency_key
        return found

    def create_session(self, body: dict[str, Any], idempotency_key: str | None = None) -> Any:
        return self.http.post("/v1/sessions", json=body, headers=self.headers(idempotency_key))

    def get(self, path: str, **params: Any) -> Any:
        return self.http.get(path, params=params, headers=self.headers())

    def post(self, path: str, body: dict[str, Any] | None = None, key: str | None = None) -> Any:
        return self.http.post(path, json=body, headers=self.headers(key))


@pytest.fixture
def documented(identity: Identity) -> DocumentedClient:
    organization = identity.organization()
    key = identity.api_key(organization, [Permission(scope) for scope in DOCUMENTED_SCOPES])
    return DocumentedClient(identity.client(), key.secret, organization.id)


def error_of(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    error: dict[str, Any] = body["error"]
    assert {"type", "code", "message"} <= error.keys()
    return error


def test_unsupported_language_pair_is_refused_with_the_documented_code(
    documented: DocumentedClient,
) -> None:
    response = documented.create_session(
        {"mode": "bidirectional_translation", "source_language": "ja", "target_language": "fr"}
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "unsupported_language_pair"


CREATE = {"mode": "bidirectional_translation", "source_language": "es", "target_language": "en"}


def test_idempotency_key_replays_and_refuses_another_body(documented: DocumentedClient) -> None:
    first = documented.create_session(CREATE, idempotency_key="create-1")
    again = documented.create_session(CREATE, idempotency_key="create-1")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    other = documented.create_session(
        {**CREATE, "target_language": "de"}, idempotency_key="create-1"
    )
    assert other.status_code == 400
    error = error_of(other)
    assert (error["type"], error["code"]) == ("invalid_request_error", "idempotency_mismatch")


def test_idempotency_keys_belong_to_the_organization(identity: Identity) -> None:
    organization = identity.organization()
    scopes = [Permission(scope) for scope in DOCUMENTED_SCOPES]
    one, two = (
        DocumentedClient(identity.client(), identity.api_key(organization, scopes).secret)
        for _ in range(2)
    )
    first = one.create_session(CREATE, idempotency_key="shared-key")
    second = two.create_session(CREATE, idempotency_key="shared-key")
    assert second.json()["id"] == first.json()["id"]


def test_recordings_list_is_the_documented_list(documented: DocumentedClient) -> None:
    session_id = documented.create_session(CREATE).json()["id"]
    path = f"/v1/sessions/{session_id}/recordings"
    for params in ({}, {"limit": 10, "ending_before": "rec_0"}, {"starting_after": "rec_z"}):
        listed = documented.get(path, **params)
        assert listed.status_code == 200, listed.text
        body = listed.json()
        assert body["object"] == "list"
        assert body["data"] == []
        assert body["has_more"] is False
        assert body["url"] == path


def test_documented_create_fields_are_accepted(documented: DocumentedClient) -> None:
    body = {
        **CREATE,
        "routing": {
            "type": "sip",
            "direction": "inbound",
            "sip": {
                "from_uri": "sip:alice@example.com",
                "headers": {"X-Customer-Id": "c-77", "X-Queue": "billing"},
            },
        },
        "audio": {"encoding": "mulaw", "sample_rate": 8000, "channels": 1},
        "voice": "alloy",
        "recording": {"enabled": True},
        "metadata": {"external_call_id": "call_abc123", "attempt": 2, "vip": True, "tags": ["a"]},
    }
    created = documented.create_session(body)
    assert created.status_code == 201, created.text
    session = created.json()
    assert session["object"] == "session"
    assert session["metadata"] == body["metadata"]
    assert session["provider"] == "sip"
    fetched = documented.get(f"/v1/sessions/{session['id']}").json()
    assert fetched["metadata"] == body["metadata"]


def test_null_metadata_is_no_metadata(documented: DocumentedClient) -> None:
    created = documented.create_session({**CREATE, "metadata": None})
    assert created.status_code == 201, created.text
    assert created.json()["metadata"] == {}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"colour": "red"}, "colour"),
        ({"routing": {"type": "sip", "sip": {"from_uri": "sip:a@b", "to": "x"}}}, "routing.sip.to"),
        ({"routing": {"type": "sip", "sip": {"headers": {"Via": "x"}}}}, "routing.sip.headers"),
        ({"routing": {"type": "sip", "sip": {"from_uri": "mailto:a@b"}}}, "routing.sip.from_uri"),
        ({"routing": {"phone_number": "+14155551234", "sip": {}}}, "routing"),
        ({"audio": {"encoding": "opus"}}, "audio.encoding"),
        ({"metadata": {"big": "x" * 501}}, "metadata"),
    ],
)
def test_unknown_or_invalid_create_fields_are_refused(
    documented: DocumentedClient, extra: dict[str, Any], param: str
) -> None:
    response = documented.create_session({**CREATE, **extra})
    assert response.status_code == 422, response.text
    assert error_of(response)["param"] == param


async def speak_as_the_customer(stream_url: str, token: str, mulaw: bytes) -> list[dict[str, Any]]:
    """The documented WebSocket flow: connect, ``audio.input`` as ``customer``, wait for the
    final transcript, ``session.end``; returns every event received."""
    events: list[dict[str, Any]] = []
    async with websockets.connect(f"{stream_url}?token={token}") as ws:

        async def until(kind: str, **match: Any) -> None:
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), timeout=240))
                events.append(event)
                if event["type"] == kind and all(event.get(k) == v for k, v in match.items()):
                    return

        await until("session.ready")
        chunk = 1600  # 200 ms of mu-law 8 kHz, as the docs advise
        for sequence, offset in enumerate(range(0, len(mulaw), chunk)):
            message = {
                "type": "audio.input",
                "sequence": sequence,
                "timestamp_ms": sequence * 200,
                "speaker": "customer",
                "audio": {
                    "encoding": "mulaw",
                    "sample_rate_hz": 8000,
                    "payload": base64.b64encode(mulaw[offset : offset + chunk]).decode(),
                },
            }
            await ws.send(json.dumps(message))
            await asyncio.sleep(0.05)
        await until("transcript.final", speaker="customer")
        await ws.send(json.dumps({"type": "session.end"}))
        await until("session.ended")
    return events


@sqlite_only
@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_recorded_call_labels_the_customer_and_serves_transcripts_and_recordings(
    app: FastAPI, documented: DocumentedClient
) -> None:
    created = documented.create_session({**CREATE, "recording": {"enabled": True}}).json()
    mulaw, _ = mulaw_clip("es", 2)
    with serving(app) as server:
        path = urlsplit(created["stream"]["url"]).path
        stream_url = server.ws_url + path
        events = await speak_as_the_customer(stream_url, created["stream"]["token"], mulaw)
    speakers = {event["speaker"] for event in events if "speaker" in event}
    assert speakers == {"customer"}, speakers
    final = next(event for event in events if event["type"] == "transcript.final")
    assert final["text"] and final["translation"]["text"]

    transcript_path = f"/v1/sessions/{created['id']}/transcript"
    transcript = documented.get(transcript_path)
    assert transcript.status_code == 200, transcript.text
    turns = transcript.json()["turns"]
    assert turns and {turn["speaker"] for turn in turns} == {"customer"}
    assert all(turn["translation"]["language"] == "en" for turn in turns)
    plain = documented.get(transcript_path, include_translations="false").json()["turns"]
    assert all(turn["translation"] is None for turn in plain)

    text = documented.get(transcript_path, format="text")
    assert text.headers["content-type"].startswith("text/plain")
    assert f"customer: {' '.join(turns[0]['text'].split())}" in text.text
    assert "customer (en): " in text.text

    srt = documented.get(transcript_path, format="srt")
    cue = r"1\n\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}\ncustomer: "
    assert re.match(cue, srt.text), srt.text

    vtt = documented.get(transcript_path, format="vtt", include_translations="false")
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT\n\n")
    assert re.search(r"\d{2}:\d{2}:\d{2}\.\d{3} --> .*\n<v customer>", vtt.text)
    assert vtt.text.count("<v customer>") == len(turns)  # no translation lines

    check_recordings(documented, created["id"])


def check_recordings(documented: DocumentedClient, session_id: str) -> None:
    """Recordings as the docs describe them: MP3, agent/customer/mixed, converted on request."""
    listed = documented.get(f"/v1/sessions/{session_id}/recordings").json()
    assert listed["object"] == "list"
    recordings = {item["channel"]: item for item in listed["data"]}
    assert set(recordings) == {"agent", "customer", "mixed"}
    for item in recordings.values():
        assert item["object"] == "recording" and item["session_id"] == session_id
        assert (item["format"], item["bit_depth"], item["status"]) == ("mp3", 16, "ready")
        assert item["duration"] > 1 and item["size"] > 0
        created_at = datetime.fromisoformat(item["created_at"])
        expires_at = datetime.fromisoformat(item["expires_at"])
        assert expires_at - created_at == timedelta(days=30)  # the default retention class
        assert documented.get(f"/v1/recordings/{item['id']}").json() == item
    customer = recordings["customer"]
    only = documented.get(f"/v1/sessions/{session_id}/recordings", channel="customer").json()
    assert [item["id"] for item in only["data"]] == [customer["id"]]

    audio = documented.get(customer["download_url"])
    assert audio.status_code == 200
    assert audio.headers["content-type"] == "audio/mpeg"
    assert audio.headers["content-disposition"] == (
        f'attachment; filename="recording-{session_id}.mp3"'
    )
    assert int(audio.headers["content-length"]) == customer["size"]
    samples, rate = soundfile.read(io.BytesIO(audio.content), dtype="int16")
    assert rate == customer["sample_rate"]
    assert np.abs(samples).max() > 1000, "the customer's channel is silent"

    wav = documented.get(customer["download_url"], format="wav", sample_rate=16000)
    assert wav.headers["content-type"] == "audio/wav"
    assert wav.headers["content-disposition"].endswith(f'recording-{session_id}.wav"')
    with wave.open(io.BytesIO(wav.content)) as reader:
        assert (reader.getframerate(), reader.getnchannels()) == (16000, 1)
        assert abs(reader.getnframes() / 16000 - customer["duration"]) < 0.2
    ogg = documented.get(customer["download_url"], format="ogg")
    assert ogg.headers["content-type"] == "audio/ogg" and ogg.content[:4] == b"OggS"
    refused = documented.get(customer["download_url"], sample_rate=11025)
    assert refused.status_code == 422


def test_every_authenticated_response_carries_rate_limit_and_credit_headers(
    documented: DocumentedClient,
) -> None:
    before = documented.get("/v1/sessions/sess_unknown")
    created = documented.create_session(CREATE)
    after = documented.get(f"/v1/sessions/{created.json()['id']}")
    for response in (before, created, after):
        assert int(response.headers["X-RateLimit-Limit"]) > 0
        assert (
            0
            <= int(response.headers["X-RateLimit-Remaining"])
            < int(response.headers["X-RateLimit-Limit"])
        )
        assert int(response.headers["X-RateLimit-Reset"]) > 1_700_000_000  # a Unix time
        assert response.headers["X-Request-ID"].startswith("req_")
    assert before.status_code == 404
    used_before = int(before.headers["X-API-Credits-Used"])
    assert int(created.headers["X-API-Credits-Used"]) == used_before + 1
    assert int(created.headers["X-API-Credits-Remaining"]) == (
        int(before.headers["X-API-Credits-Remaining"]) - 1
    )
    assert after.headers["X-API-Credits-Used"] == created.headers["X-API-Credits-Used"]


DOCUMENTED_EVENTS = [
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
]


def test_every_documented_event_type_can_be_subscribed(identity: Identity) -> None:
    key = identity.api_key(identity.organization(), [Permission.WEBHOOKS_MANAGE])
    client = identity.key_client(key)
    url = "https://hooks.example.com/kallglot"
    created = client.post("/v1/webhooks", json={"url": url, "events": DOCUMENTED_EVENTS})
    assert created.status_code == 201, created.text
    assert sorted(created.json()["events"]) == sorted(DOCUMENTED_EVENTS)
    # Our former name for transcript.ready is still accepted, and stored as the new one.
    legacy = client.post("/v1/webhooks", json={"url": url, "events": ["transcript.completed"]})
    assert legacy.status_code == 201, legacy.text
    assert legacy.json()["events"] == ["transcript.ready"]
    unknown = client.post("/v1/webhooks", json={"url": url, "events": ["session.exploded"]})
    assert unknown.status_code == 422


def signature_is_valid(secret: str, header: str, raw_body: bytes) -> bool:
    """The check the public docs describe: ``v1 = hex(HMAC-SHA256(secret, "<t>.<raw body>"))``."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + raw_body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"])


async def test_a_retried_webhook_is_signed_and_keeps_its_original_timestamp(
    identity: Identity, documented: DocumentedClient, httpserver: HTTPServer
) -> None:
    received: list[Request] = []
    answers = iter([500, 200])

    def handler(request: Request) -> WerkzeugResponse:
        received.append(request)
        return WerkzeugResponse("", status=next(answers))

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
    # Registered as in the Developer Portal: an endpoint, its events, its signing secret.
    with identity.database.sessions.begin() as db:
        _, secret = webhooks.create_endpoint(
            db, documented.organization_id, httpserver.url_for("/hook"), ["session.created"]
        )
    session_id = documented.create_session(CREATE).json()["id"]
    loopback = OutboundPolicy(https_only=False, allowed_networks=parse_networks(["127.0.0.0/8"]))
    async with WebhookDispatcher(identity.database.sessions, loopback) as dispatcher:
        assert await dispatcher.deliver_due() == 1
        with time_machine.travel(utcnow() + timedelta(minutes=3)):
            assert await dispatcher.deliver_due() == 1
    first, retry = received
    for request in received:
        assert signature_is_valid(secret, request.headers["Kallglot-Signature"], request.data)
        assert request.headers["Kallglot-Webhook-Id"].startswith("wh_del_")
    assert not signature_is_valid("whsec_other", retry.headers["Kallglot-Signature"], retry.data)
    assert (first.headers["Kallglot-Retry-Count"], retry.headers["Kallglot-Retry-Count"]) == (
        "0",
        "1",
    )
    event = json.loads(retry.data)
    assert event["type"] == "session.created"
    assert event["id"].startswith("evt_") and event["api_version"] == "v1"
    assert event["data"]["id"] == session_id
    original = first.headers["Kallglot-Original-Timestamp"]
    assert retry.headers["Kallglot-Original-Timestamp"] == original
    retry_time = int(
        dict(p.split("=", 1) for p in retry.headers["Kallglot-Signature"].split(","))["t"]
    )
    assert retry_time - int(original) >= 180  # the retry is signed at its own time


def test_openapi_shows_the_documented_fields(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    assert {"mode", "source_language", "target_language", "routing", "audio", "voice"} <= set(
        components["CreateSession"]["properties"]
    )
    assert {"ai_agent", "recording", "metadata"} <= set(components["CreateSession"]["properties"])
    assert {"phone_number", "connection_id", "type", "direction", "sip"} <= set(
        components["Routing"]["properties"]
    )
    assert set(components["SipRouting"]["properties"]) == {"from_uri", "headers"}

    def parameters(path: str) -> set[str]:
        return {p["name"] for p in schema["paths"][path]["get"]["parameters"]}

    assert {"format", "include_translations"} <= parameters("/v1/sessions/{session_id}/transcript")
    assert {"format", "sample_rate"} <= parameters("/v1/recordings/{recording_id}/audio")
    assert {"limit", "starting_after", "ending_before"} <= parameters(
        "/v1/sessions/{session_id}/recordings"
    )
