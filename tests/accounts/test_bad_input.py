"""Bad input gets the error envelope (4xx), never a 500 — on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from kallglot.accounts.permissions import Role
from tests.factories import Identity

VALID_SIGNUP: dict[str, Any] = {
    "organization": {"name": "Acme"},
    "name": "Frieda Founder",
    "email": "f@example.com",
    "password": "correct horse battery staple 42",
}


def signup_with(**changes: Any) -> dict[str, Any]:
    body = {**VALID_SIGNUP, "organization": dict(VALID_SIGNUP["organization"])}
    for key, value in changes.items():
        if key.startswith("organization."):
            body["organization"][key.split(".", 1)[1]] = value
        else:
            body[key] = value
    return body


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (signup_with(email="not-an-email"), "email"),
        (signup_with(email="a@b"), "email"),
        (signup_with(email="x" * 300 + "@example.com"), "email"),
        (signup_with(name="n" * 10_000), "name"),
        (signup_with(name=""), "name"),
        (signup_with(name="nul\u0000byte"), "name"),
        (signup_with(**{"organization.name": "o" * 201}), "organization.name"),
        (signup_with(**{"organization.country": "Germany"}), "organization.country"),
        (signup_with(**{"organization.address": "line\u0000"}), "organization.address"),
        (signup_with(phone_number="12345"), "phone_number"),
        (signup_with(password="p" * 5000), "password"),
        (signup_with(password=None), "password"),
        (signup_with(role="owner"), "role"),
        ({"organization": "Acme"}, "organization"),
    ],
)
def test_bad_signup_bodies_are_422(identity: Identity, body: dict[str, Any], param: str) -> None:
    response = identity.client().post("/v1/auth/signup", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    assert error["param"] == param


def test_a_long_but_allowed_password_field_gets_the_rule_code(identity: Identity) -> None:
    response = identity.client().post("/v1/auth/signup", json=signup_with(password="p" * 500))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "password_too_long"


def test_malformed_json_is_400(identity: Identity) -> None:
    response = identity.client().post(
        "/v1/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_unknown_role_and_unknown_fields(identity: Identity) -> None:
    organization = identity.organization()
    agent = identity.user(organization, Role.AGENT)
    owner = identity.client_as(Role.OWNER, organization)
    unknown_role = owner.patch(f"/v1/members/{agent.member_id}", json={"role": "superuser"})
    assert unknown_role.status_code == 422 and unknown_role.json()["error"]["param"] == "role"
    extra = owner.patch("/v1/organization", json={"name": "X", "is_demo": True})
    assert extra.status_code == 422
    assert extra.json()["error"]["code"] == "unknown_field"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/members/a%00b",
        "/v1/members/" + "m" * 5000,
        "/v1/members/mem_%F0%9F%98%80",
        "/v1/api-keys/key_'--",
        "/v1/members?starting_after=a%00b",
        "/v1/members?limit=0",
        "/v1/members?limit=abc",
        "/v1/audit-events?actor_id=a%00b",
        "/v1/audit-events?action=DROP%20TABLE",
    ],
)
def test_odd_ids_and_queries_are_4xx(identity: Identity, path: str) -> None:
    owner = identity.client_as(Role.OWNER)
    response = owner.get(path)
    assert 400 <= response.status_code < 500, (path, response.text)
    assert "error" in response.json()


def test_odd_session_ids_and_login_fields(identity: Identity) -> None:
    owner = identity.client_as(Role.OWNER)
    assert owner.delete("/v1/auth/sessions/x%00y").status_code == 404
    client = identity.client()
    for body in (
        {"email": "a@example.com", "password": "x", "organization_id": "org_\u0000"},
        {"email": "a\u0000@example.com", "password": "x"},
        {"email": "a@example.com", "password": "x\u0000y"},
        {"email": "a@example.com"},
        {"email": 12, "password": []},
    ):
        response = client.post("/v1/auth/login", json=body)
        assert response.status_code in (401, 422), (body, response.text)


def test_bad_tokens_on_public_routes(identity: Identity) -> None:
    client = identity.client()
    for path, body in (
        ("/v1/auth/mfa/verify", {"challenge_token": "\u0000", "code": "1"}),
        ("/v1/auth/mfa/verify", {"challenge_token": "t" * 5000, "code": "1"}),
        ("/v1/auth/password-reset/confirm", {"token": "x", "new_password": "y"}),
        ("/v1/invitations/accept", {"token": "x", "password": "y"}),
    ):
        response = client.post(path, json=body)
        assert 400 <= response.status_code < 500, (path, response.text)
