"""An agent's dial form lists the numbers they may call out from, and nothing more."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kallglot.accounts.permissions import Role
from tests.factories import Identity


def register(admin: TestClient, e164: str) -> str:
    response = admin.post(
        "/v1/phone-numbers",
        json={"e164": e164, "country": "DE", "number_type": "local", "carrier": "sip_trunk"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_an_agent_sees_the_active_numbers_of_their_organization_only(identity: Identity) -> None:
    org, other = identity.organization(), identity.organization("Elsewhere")
    admin = identity.client_as(Role.ADMIN, org)
    kept = register(admin, "+493011112222")
    released = register(admin, "+493011113333")
    assert admin.post(f"/v1/phone-numbers/{released}/release", json={}).status_code == 200
    register(identity.client_as(Role.ADMIN, other), "+493011114444")

    agent = identity.client_as(Role.AGENT, org)
    assert agent.get("/v1/phone-numbers").status_code == 403  # the admin list stays closed
    listed = agent.get("/v1/caller-ids")
    assert listed.status_code == 200, listed.text
    assert [(n["id"], n["e164"]) for n in listed.json()["data"]] == [(kept, "+493011112222")]


def test_who_cannot_place_calls_gets_no_caller_ids(identity: Identity) -> None:
    billing = identity.client_as(Role.BILLING)
    response = billing.get("/v1/caller-ids")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_permissions"
