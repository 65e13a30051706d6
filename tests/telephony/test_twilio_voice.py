"""The Twilio voice webhook: signed requests only, unknown numbers rejected, calls streamed."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi.testclient import TestClient
from sqlalchemy import select

from kallglot.core.settings import Settings
from kallglot.realtime import service
from kallglot.realtime.models import CallSession
from kallglot.telephony.calls.models import CallRecord
from tests.conftest import MigratedDatabase
from tests.factories import Identity
from tests.telephony.twilio_helpers import VOICE, call_params, post_signed
from tests.telephony_numbers.helpers import make_agent, make_number, make_queue, member_id


def test_a_call_to_a_staffed_number_is_streamed_into_a_new_session(
    client: TestClient, settings: Settings, identity: Identity, database: MigratedDatabase
) -> None:
    org = identity.organization()
    with database.sessions.begin() as db:
        agent = make_agent(
            db, member_id(identity, org, "Anna"), org, "Anna", ["en"], "available", 5
        )
        make_number(db, org, make_queue(db, org, [agent]), e164="+493012345670")

    twiml = post_signed(client, settings, call_params("+493012345670"))

    stream = twiml.find("./Connect/Stream")
    assert stream is not None
    token = stream.find("./Parameter[@name='token']")
    assert token is not None
    with database.sessions() as db:
        record = db.scalars(select(CallRecord)).one()
        assert record.session_id is not None
        assert stream.get("url") == (
            "ws://127.0.0.1:8000/v1/telephony/twilio/media/" + record.session_id
        )
        # the token in the TwiML opens exactly that session
        opened = service.authenticate_stream(db, record.session_id, token.get("value", ""))
        assert isinstance(opened, CallSession)
        assert opened.organization_id == org.id


def test_an_unknown_number_is_rejected_and_nothing_is_created(
    client: TestClient, settings: Settings, database: MigratedDatabase
) -> None:
    twiml = post_signed(client, settings, call_params("+493099999999"))
    assert twiml.find("./Reject") is not None
    with database.sessions() as db:
        assert db.scalars(select(CallSession)).all() == []


def test_an_unsigned_or_forged_request_is_refused(client: TestClient) -> None:
    params = call_params("+493012345670")
    for signature in ("", "Zm9yZ2Vk"):
        response = client.post(
            VOICE,
            content=urlencode(params),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            },
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_twilio_signature"
