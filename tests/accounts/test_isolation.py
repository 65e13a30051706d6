"""Organization isolation: no route hands out, changes or even confirms another
organization's object. Every id-taking route answers 404 for a foreign id, and no
list shows a foreign id.

Domains that add routes with bodies add a valid sample body to SAMPLE_BODIES (a
route that answers 422 here without one fails the test, so it cannot hide).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

from kallglot.accounts.dependencies import Endpoint, endpoints
from kallglot.accounts.permissions import Permission, Role
from tests.factories import Identity

SAMPLE_BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/v1/members/{member_id}"): {"role": "supervisor"},
    ("DELETE", "/v1/auth/mfa/webauthn/credentials/{credential_id}"): {"password": "x"},
    ("PATCH", "/v1/phone-numbers/{number_id}"): {"languages": ["de"]},
    ("PATCH", "/v1/kyc/bundles/{bundle_id}"): {"details": {"company_name": "X GmbH"}},
    ("PUT", "/v1/routing/queues/{queue_id}"): {"name": "Support"},
    ("PATCH", "/v1/routing/agents/{agent_id}"): {"languages": ["de"]},
    ("POST", "/v1/privacy/requests/{request_id}/verify"): {"code": "123456"},
    ("POST", "/v1/privacy/requests/{request_id}/attest"): {"note": "ID card seen"},
    ("POST", "/v1/privacy/requests/{request_id}/extend"): {"months": 1, "reason": "complex"},
    ("POST", "/v1/privacy/requests/{request_id}/reject"): {"reason": "manifestly unfounded"},
    ("POST", "/v1/privacy/requests/{request_id}/execute"): {},
    ("PUT", "/v1/privacy/retention/{retention_class}"): {"days": 30},
    ("POST", "/v1/privacy/legal-requests/{request_id}/decision"): {"decision": "refused"},
}


def foreign_objects(identity: Identity) -> list[str]:
    """Objects of organization A, of every kind this domain has."""
    victim = identity.organization("Victim Org")
    owner = identity.user(victim, Role.OWNER)
    agent = identity.user(victim, Role.AGENT)
    client = identity.login(owner)
    key = identity.api_key(victim, [Permission.CALLS_READ])
    invitation = client.post("/v1/invitations", json={"email": "v@example.com", "role": "agent"})
    session_id = client.get("/v1/auth/me").json()["session_id"]
    events = client.get("/v1/audit-events").json()["data"]
    return [
        victim.id,
        owner.id,
        owner.member_id,
        agent.member_id,
        key.id,
        invitation.json()["id"],
        session_id,
        events[0]["id"],
    ]


def id_routes(app: FastAPI) -> list[tuple[str, Endpoint]]:
    return [
        (method, endpoint)
        for endpoint in endpoints(app)
        if "{" in endpoint.path and endpoint.permission is not None
        for method in sorted(endpoint.methods - {"HEAD"})
    ]


def test_foreign_ids_are_not_found_on_every_route(identity: Identity, app: FastAPI) -> None:
    foreign = foreign_objects(identity)
    attacker = identity.client_as(Role.OWNER, identity.organization("Attacker Org"), mfa=True)
    checked = 0
    for method, route in id_routes(app):
        for object_id in foreign:
            path = re.sub(r"\{[^}]+\}", object_id, route.path)
            body = SAMPLE_BODIES.get((method, route.path))
            response = attacker.request(method, path, json=body)
            assert response.status_code != 422, f"add a sample body for {method} {route.path}"
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["error"]["code"].endswith("_not_found")
            checked += 1
    assert checked >= 8 * 6


def test_lists_never_show_foreign_objects(identity: Identity, app: FastAPI) -> None:
    foreign = foreign_objects(identity)
    attacker = identity.client_as(Role.OWNER, identity.organization("Attacker Org"), mfa=True)
    for route in endpoints(app):
        if "{" in route.path or "GET" not in route.methods or route.permission is None:
            continue
        response = attacker.get(route.path)
        assert response.status_code == 200, (route.path, response.text)
        for object_id in foreign:
            assert object_id not in response.text, (route.path, object_id)


def test_api_keys_of_one_organization_see_only_it(identity: Identity) -> None:
    victim = identity.organization("Victim Org")
    victim_member = identity.user(victim, Role.AGENT)
    other = identity.organization("Other Org")
    key = identity.api_key(other, [Permission.MEMBERS_READ, Permission.ORGANIZATION_READ])
    client = identity.key_client(key)
    assert client.get("/v1/organization").json()["id"] == other.id
    assert client.get(f"/v1/members/{victim_member.member_id}").status_code == 404
    assert victim_member.member_id not in client.get("/v1/members").text
