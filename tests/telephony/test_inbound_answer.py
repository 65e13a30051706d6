"""An inbound call routed to an agent: the session it streams into translates into the
agent's language, and answering it gives the agent what joins that session."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from kallglot.accounts.permissions import Role
from kallglot.core.clock import utcnow
from kallglot.core.settings import Settings
from kallglot.realtime import service
from kallglot.realtime.models import CallSession
from kallglot.telephony.calls import service as calls
from kallglot.telephony.calls.models import CallRecord
from tests.conftest import MigratedDatabase
from tests.factories import Identity
from tests.telephony.twilio_helpers import call_params, post_signed
from tests.telephony_numbers.helpers import make_agent, make_number, make_queue


def test_the_agent_answering_a_routed_call_gets_its_session_stream(
    client: TestClient, settings: Settings, identity: Identity, database: MigratedDatabase
) -> None:
    org = identity.organization()
    anna = identity.user(org, Role.AGENT, email="anna-answers@example.com")
    with database.sessions.begin() as db:
        agent = make_agent(db, anna.id, org, "Anna", ["en", "fr"], "available", 5)
        number = make_number(db, org, make_queue(db, org, [agent]), e164="+493012345670")
        number.languages = ["es"]

    stream = post_signed(client, settings, call_params("+493012345670")).find("./Connect/Stream")
    assert stream is not None
    with database.sessions() as db:
        record = db.scalars(select(CallRecord)).one()
        session = db.get_one(CallSession, record.session_id)
        assert (session.source_language, session.target_language) == ("es", "en")

    agent_client = identity.login(anna)
    answered = agent_client.post(f"/v1/calls/{record.id}/answer", json={})

    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["outcome"] == "in_progress"
    assert body["session_id"] == record.session_id
    assert body["stream"]["url"] == (f"ws://127.0.0.1:8000/v1/sessions/{record.session_id}/connect")
    with database.sessions() as db:
        opened = service.authenticate_stream(db, record.session_id, body["stream"]["token"])
        assert opened.id == record.session_id
    # Answering again is refused with the envelope, and issues nothing.
    again = agent_client.post(f"/v1/calls/{record.id}/answer", json={})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "call_not_offered"
    with database.sessions() as db:
        service.authenticate_stream(db, record.session_id, body["stream"]["token"])


def test_a_call_without_a_session_is_answered_without_a_stream(
    client: TestClient, identity: Identity, database: MigratedDatabase
) -> None:
    org = identity.organization()
    anna = identity.user(org, Role.AGENT, email="anna-plain@example.com")
    with database.sessions.begin() as db:
        agent = make_agent(db, anna.id, org, "Anna", ["en"], "available", 5)
        make_number(db, org, make_queue(db, org, [agent]), e164="+493012345671")
        routed = calls.inbound(
            db, to_number="+493012345671", from_number="+4915100000009", now=utcnow()
        )
        call_id = routed.call.id
    answered = identity.login(anna).post(f"/v1/calls/{call_id}/answer", json={})
    assert answered.status_code == 200, answered.text
    assert answered.json()["stream"] is None
