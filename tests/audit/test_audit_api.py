"""``GET /v1/audit-events`` and its CSV export: what gets recorded, who may read it."""

from __future__ import annotations

import csv
import io
import json

from kallglot.accounts.permissions import Role
from tests.factories import Identity


def test_security_actions_are_recorded_and_listed(identity: Identity) -> None:
    organization = identity.organization()
    owner = identity.client_as(Role.OWNER, organization, mfa=True)
    agent = identity.user(organization, Role.AGENT)
    key = owner.post("/v1/api-keys", json={"name": "ci", "scopes": ["calls:read"]}).json()
    owner.delete(f"/v1/api-keys/{key['id']}")
    owner.patch(f"/v1/members/{agent.member_id}", json={"role": "supervisor"})
    owner.patch("/v1/organization", json={"require_mfa": True})
    identity.client().post("/v1/auth/login", json={"email": agent.email, "password": "wrong!"})
    events = owner.get("/v1/audit-events", params={"limit": 100}).json()["data"]
    actions = [event["action"] for event in events]
    for action in (
        "auth.login",
        "api_key.created",
        "api_key.revoked",
        "member.role_changed",
        "organization.mfa_requirement_changed",
    ):
        assert action in actions, action
    failure = next(e for e in events if e["action"] == "auth.login" and e["result"] == "failure")
    assert failure["target_id"] == agent.id
    assert failure["ip"] == "testclient"
    sequences = sorted(event["sequence"] for event in events)
    assert sequences == list(range(1, len(events) + 1))
    role_change = next(e for e in events if e["action"] == "member.role_changed")
    assert role_change["changes"] == {"from": "agent", "to": "supervisor"}
    assert role_change["request_id"].startswith("req_")
    assert key["secret"] not in json.dumps(events)


def test_filters_and_cursor_pagination(identity: Identity) -> None:
    organization = identity.organization()
    owner = identity.client_as(Role.OWNER, organization)
    for number in range(5):
        owner.post("/v1/api-keys", json={"name": f"k{number}", "scopes": ["calls:read"]})
    first = owner.get("/v1/audit-events", params={"action": "api_key.created", "limit": 3}).json()
    assert len(first["data"]) == 3 and first["has_more"] is True
    second = owner.get(
        "/v1/audit-events",
        params={"action": "api_key.created", "limit": 3, "starting_after": first["next_cursor"]},
    ).json()
    assert len(second["data"]) == 2 and second["has_more"] is False
    me = owner.get("/v1/auth/me").json()["user"]["id"]
    by_actor = owner.get("/v1/audit-events", params={"actor_id": me, "limit": 100}).json()
    assert all(event["actor_id"] == me for event in by_actor["data"])
    future = owner.get("/v1/audit-events", params={"since": "2999-01-01T00:00:00Z"}).json()
    assert future["data"] == []
    bad = owner.get("/v1/audit-events", params={"since": "yesterday"})
    assert bad.status_code == 422


def test_csv_export_is_itself_audited(identity: Identity) -> None:
    organization = identity.organization()
    compliance = identity.client_as(Role.COMPLIANCE, organization)
    response = compliance.get("/v1/audit-events/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows and rows[0]["action"] == "auth.login"
    assert json.loads(rows[0]["changes"])["method"] == "password"
    listed = compliance.get("/v1/audit-events", params={"action": "audit.exported"}).json()
    assert len(listed["data"]) == 1


def test_only_owner_and_compliance_read_the_log(identity: Identity) -> None:
    organization = identity.organization()
    for role in Role:
        client = identity.client_as(role, organization)
        allowed = role in (Role.OWNER, Role.COMPLIANCE)
        assert (client.get("/v1/audit-events").status_code == 200) is allowed, role
