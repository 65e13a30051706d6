"""The activity log and call records through the API, with the right permissions only."""

from __future__ import annotations

import csv
import io
from typing import Any

from kallglot.accounts.permissions import Permission, Role
from kallglot.core.clock import utcnow
from kallglot.telephony.calls import service as calls
from tests.conftest import MigratedDatabase
from tests.factories import Identity


def _setup(identity: Identity, database: MigratedDatabase) -> dict[str, Any]:
    org = identity.organization()
    anna = identity.user(org, Role.AGENT)
    bernd = identity.user(org, Role.AGENT)
    supervisor = identity.login(identity.user(org, Role.SUPERVISOR))
    admin = identity.client_as(Role.ADMIN, org)
    queue_body = {"name": "Support", "overflow_action": "message"}
    ids = {}
    for member, languages in ((anna, ["de"]), (bernd, ["en"])):
        created = admin.post(
            "/v1/routing/agents",
            json={"user_id": member.id, "display_name": "Agent", "languages": languages},
        )
        assert created.status_code == 201, created.text
        ids[member.id] = created.json()["id"]
    queue = admin.post("/v1/routing/queues", json={**queue_body, "agent_ids": list(ids.values())})
    assert queue.status_code == 201, queue.text
    number = admin.post(
        "/v1/phone-numbers",
        json={
            "e164": "+493099887766",
            "country": "DE",
            "number_type": "local",
            "carrier": "sip_trunk",
        },
    ).json()
    admin.patch(f"/v1/phone-numbers/{number['id']}", json={"queue_id": queue.json()["id"]})
    anna_client = identity.login(anna)
    bernd_client = identity.login(bernd)
    assert (
        anna_client.put("/v1/routing/me/presence", json={"presence": "available"}).json()[
            "presence"
        ]
        == "available"
    )
    bernd_client.put("/v1/routing/me/presence", json={"presence": "available"})
    with database.sessions.begin() as db:
        routed = calls.inbound(
            db,
            to_number="+493099887766",
            from_number="+4917612345678",
            now=utcnow(),
            caller_language="de",
            session_id="sess_01TEST",
        )
        call_id = routed.call.id
    return {
        "org": org,
        "anna": anna_client,
        "bernd": bernd_client,
        "supervisor": supervisor,
        "admin": admin,
        "anna_agent": ids[anna.id],
        "bernd_agent": ids[bernd.id],
        "call_id": call_id,
    }


def test_activity_log_is_visible_to_supervisors_and_to_the_agent_only(
    identity: Identity, database: MigratedDatabase
) -> None:
    world = _setup(identity, database)
    anna, bernd, supervisor = world["anna"], world["bernd"], world["supervisor"]
    answered = anna.post(f"/v1/calls/{world['call_id']}/answer")
    assert answered.status_code == 200, answered.text
    anna.post(f"/v1/calls/{world['call_id']}/hangup")

    log = supervisor.get(f"/v1/routing/agents/{world['anna_agent']}/activity")
    assert log.status_code == 200
    events = [entry["event"] for entry in log.json()["data"]]
    for event in ("signed_in", "state_changed", "call_offered", "call_answered"):
        assert event in events
    own = anna.get("/v1/routing/me/activity").json()["data"]
    assert {entry["agent_id"] for entry in own} == {world["anna_agent"]}
    # An agent may not read a colleague's log; billing may not read any.
    refused = bernd.get(f"/v1/routing/agents/{world['anna_agent']}/activity")
    assert refused.status_code == 403
    billing = identity.client_as(Role.BILLING, world["org"])
    assert billing.get(f"/v1/routing/agents/{world['anna_agent']}/activity").status_code == 403
    assert billing.get("/v1/routing/agents").status_code == 403


def test_call_records_are_visible_with_the_right_permissions_only(
    identity: Identity, database: MigratedDatabase
) -> None:
    world = _setup(identity, database)
    anna, bernd, supervisor = world["anna"], world["bernd"], world["supervisor"]
    listed = supervisor.get("/v1/calls?direction=inbound&phone=0049 176 12345678").json()
    assert [call["id"] for call in listed["data"]] == [world["call_id"]]
    record = listed["data"][0]
    assert record["from_number"] == "+4917612345678"
    assert record["session_id"] == "sess_01TEST"
    assert record["outcome"] == "ringing"
    assert record["caller_language"] == "de"
    # The agent the call was offered to sees it; a colleague does not.
    assert [c["id"] for c in anna.get("/v1/calls").json()["data"]] == [world["call_id"]]
    assert bernd.get("/v1/calls").json()["data"] == []
    assert bernd.get(f"/v1/calls/{world['call_id']}").status_code == 404
    # CSV export is for calls:manage (supervisors and up), not agents.
    assert anna.get("/v1/calls/export").status_code == 403
    exported = supervisor.get("/v1/calls/export")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows[0]["id"] == world["call_id"]
    assert rows[0]["from_number"] == "'+4917612345678"  # defused for spreadsheets
    billing = identity.client_as(Role.BILLING, world["org"])
    assert billing.get("/v1/calls").status_code == 403
    key = identity.api_key(world["org"], [Permission.NUMBERS_READ])
    assert identity.key_client(key).get("/v1/calls").status_code == 403
    # Pagination: a cursor walks the records.
    with database.sessions.begin() as db:
        for index in range(3):
            calls.inbound(
                db, to_number="+493099887766", from_number=f"+4917612345{index:03d}", now=utcnow()
            )
    first = supervisor.get("/v1/calls?limit=2").json()
    assert first["has_more"] is True
    second = supervisor.get(f"/v1/calls?limit=2&starting_after={first['next_cursor']}").json()
    assert not {c["id"] for c in first["data"]} & {c["id"] for c in second["data"]}


def test_phone_numbers_are_encrypted_at_rest(
    identity: Identity, database: MigratedDatabase
) -> None:
    world = _setup(identity, database)
    with database.engine.connect() as connection:
        raw = connection.exec_driver_sql("SELECT from_number, from_hash FROM call_records").all()
    assert raw
    for ciphertext, digest in raw:
        assert b"4917612345678" not in bytes(ciphertext)
        assert "4917612345678" not in digest
    assert world["call_id"]
