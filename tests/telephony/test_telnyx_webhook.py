"""The Telnyx call-control webhook: signed requests only; a call to a staffed number is
answered with media streaming through the SDK, an unknown number rejected."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from kallglot.api.app import create_app
from kallglot.core.settings import Settings
from kallglot.realtime import service
from kallglot.realtime.models import CallSession
from kallglot.telephony.calls.models import CallRecord
from kallglot.telephony.routing.models import Agent
from tests.conftest import MigratedDatabase
from tests.factories import Identity
from tests.telephony.telnyx_helpers import (
    PUBLIC_KEY,
    TELNYX_API_KEY,
    WEBHOOK,
    call_initiated,
    signed_headers,
)
from tests.telephony_numbers.helpers import make_agent, make_number, make_queue, member_id

CALL_CONTROL_ID = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"
ACTIONS = f"/v2/calls/{CALL_CONTROL_ID}/actions"


@pytest.fixture
def settings(settings: Settings, httpserver: HTTPServer) -> Settings:
    return settings.model_copy(
        update={
            "telnyx_api_key": SecretStr(TELNYX_API_KEY),
            "telnyx_public_key": PUBLIC_KEY,
            "telnyx_base_url": httpserver.url_for("/v2"),
        }
    )


def post(client: TestClient, event: dict[str, object], **header_overrides: str) -> object:
    body = json.dumps(event)
    headers = signed_headers(body) | header_overrides
    return client.post(WEBHOOK, content=body, headers=headers)


def test_a_call_to_a_staffed_number_is_answered_with_a_stream_into_a_new_session(
    client: TestClient,
    identity: Identity,
    database: MigratedDatabase,
    httpserver: HTTPServer,
) -> None:
    org = identity.organization()
    with database.sessions.begin() as db:
        agent = make_agent(
            db, member_id(identity, org, "Anna"), org, "Anna", ["en"], "available", 5
        )
        make_number(db, org, make_queue(db, org, [agent]), e164="+493012345670")
    httpserver.expect_oneshot_request(f"{ACTIONS}/answer", method="POST").respond_with_json(
        {"data": {"result": "ok"}}
    )

    response = post(client, call_initiated("+493012345670"))
    # Telnyx delivers the webhook again (it retries when an answer is slow): no second
    # routing, no second command.
    again = post(client, call_initiated("+493012345670"))

    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    assert again.json() == {"handled": True, "action": "duplicate", "session_id": None}  # type: ignore[attr-defined]
    httpserver.check_assertions()
    assert len(httpserver.log) == 1
    answer = json.loads(httpserver.log[0][0].get_data())
    assert answer["stream_track"] == "inbound_track"
    assert answer["stream_bidirectional_mode"] == "rtp"
    assert answer["stream_bidirectional_codec"] == "PCMU"
    assert httpserver.log[0][0].headers["Authorization"] == f"Bearer {TELNYX_API_KEY}"
    with database.sessions() as db:
        record = db.scalars(select(CallRecord)).one()
        assert record.session_id is not None
        assert answer["stream_url"] == (
            "ws://127.0.0.1:8000/v1/telephony/telnyx/media/" + record.session_id
        )
        # client_state comes back in the stream's 'start' frame and opens exactly that session
        token = base64.b64decode(answer["client_state"]).decode()
        opened = service.authenticate_stream(db, record.session_id, token)
        assert isinstance(opened, CallSession)
        assert opened.organization_id == org.id


def test_when_telnyx_refuses_the_answer_nothing_is_left_waiting(
    client: TestClient,
    identity: Identity,
    database: MigratedDatabase,
    httpserver: HTTPServer,
) -> None:
    org = identity.organization()
    with database.sessions.begin() as db:
        agent = make_agent(
            db, member_id(identity, org, "Anna"), org, "Anna", ["en"], "available", 5
        )
        make_number(db, org, make_queue(db, org, [agent]), e164="+493012345670")
    httpserver.expect_oneshot_request(f"{ACTIONS}/answer", method="POST").respond_with_json(
        {"errors": [{"code": "90018", "title": "Call has already ended"}]}, status=422
    )

    response = post(client, call_initiated("+493012345670"))

    assert response.status_code == 502  # type: ignore[attr-defined]
    assert response.json()["error"]["code"] == "carrier_error"  # type: ignore[attr-defined]
    with database.sessions() as db:
        record = db.scalars(select(CallRecord)).one()
        assert record.outcome == "abandoned" and record.ended_at is not None
        session = db.get_one(CallSession, record.session_id)
        assert (session.status, session.end_reason) == ("failed", "carrier_error")
        assert db.get_one(Agent, agent.id).active_calls == 0  # free for the next call

    # Telnyx retries the webhook after our 502: this time the call is routed and answered.
    httpserver.expect_oneshot_request(f"{ACTIONS}/answer", method="POST").respond_with_json(
        {"data": {"result": "ok"}}
    )
    retried = post(client, call_initiated("+493012345670"))
    assert retried.json()["action"] == "stream"  # type: ignore[attr-defined]
    with database.sessions() as db:
        outcomes = sorted(r.outcome for r in db.scalars(select(CallRecord)))
        assert outcomes == ["abandoned", "ringing"]


def test_an_unknown_number_is_rejected_and_nothing_is_created(
    client: TestClient, database: MigratedDatabase, httpserver: HTTPServer
) -> None:
    httpserver.expect_oneshot_request(f"{ACTIONS}/reject", method="POST").respond_with_json(
        {"data": {"result": "ok"}}
    )
    response = post(client, call_initiated("+493099999999"))
    assert response.status_code == 200  # type: ignore[attr-defined]
    httpserver.check_assertions()
    assert json.loads(httpserver.log[0][0].get_data())["cause"] == "CALL_REJECTED"
    with database.sessions() as db:
        assert db.scalars(select(CallSession)).all() == []


def test_other_call_events_need_no_command(client: TestClient, httpserver: HTTPServer) -> None:
    event = call_initiated("+493012345670")
    event["data"]["event_type"] = "call.hangup"  # type: ignore[index]
    response = post(client, event)
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response.json() == {"handled": False}  # type: ignore[attr-defined]
    assert httpserver.log == []


def test_unsigned_forged_or_stale_requests_are_refused(
    client: TestClient, database: MigratedDatabase, httpserver: HTTPServer
) -> None:
    event = call_initiated("+493012345670")
    body = json.dumps(event)
    stale = signed_headers(body, timestamp=int(time.time()) - 3600)
    forged = signed_headers(body) | {
        "telnyx-signature-ed25519": base64.b64encode(b"x" * 64).decode()
    }
    tampered = signed_headers(body.replace("+4915100000001", "+4915100000002"))
    unsigned = {"Content-Type": "application/json"}
    for headers, content in ((stale, body), (forged, body), (tampered, body), (unsigned, body)):
        response = client.post(WEBHOOK, content=content, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_telnyx_signature"
    assert httpserver.log == []
    with database.sessions() as db:
        assert db.scalars(select(CallRecord)).all() == []


def test_a_signed_body_that_is_not_an_event_is_a_validation_error(client: TestClient) -> None:
    body = json.dumps({"data": {"payload": {}}})
    response = client.post(WEBHOOK, content=body, headers=signed_headers(body))
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "validation_error"


@pytest.fixture
def unconfigured_client(settings: Settings) -> Iterator[TestClient]:
    app: FastAPI = create_app(settings.model_copy(update={"telnyx_public_key": None}))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    app.state.engine.dispose()


def test_without_a_telnyx_key_the_webhook_is_unavailable(unconfigured_client: TestClient) -> None:
    event = call_initiated("+493012345670")
    response = post(unconfigured_client, event)
    assert response.status_code == 503  # type: ignore[attr-defined]
    assert response.json()["error"]["code"] == "telnyx_not_configured"  # type: ignore[attr-defined]
