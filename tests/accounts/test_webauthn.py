"""WebAuthn as a second factor, verified by py_webauthn against a software authenticator."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from kallglot.accounts.permissions import Role
from tests.accounts.soft_authenticator import SoftAuthenticator
from tests.accounts.webauthn_helpers import ORIGIN, register
from tests.factories import Identity, Member


def start_login(client: TestClient, user: Member) -> dict[str, Any]:
    response = client.post("/v1/auth/login", json={"email": user.email, "password": user.password})
    assert response.status_code == 200 and response.json()["status"] == "mfa_required"
    return dict(response.json())


def test_register_a_key_then_sign_in_with_it(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization, Role.AGENT)
    authenticator = SoftAuthenticator(ORIGIN)
    registered = register(identity.login(user), authenticator)
    assert len(registered["recovery_codes"]) == 10
    client = identity.client()
    challenge = start_login(client, user)
    assert "webauthn" in challenge["mfa_methods"] and "totp" not in challenge["mfa_methods"]
    assertion = authenticator.get(challenge["webauthn_options"])
    done = client.post(
        "/v1/auth/mfa/verify",
        json={"challenge_token": challenge["challenge_token"], "webauthn": assertion},
    )
    assert done.status_code == 200, done.text
    assert client.get("/v1/auth/me").json()["user"]["mfa_enabled"] is True


def test_a_replayed_assertion_is_refused(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization, Role.AGENT)
    authenticator = SoftAuthenticator(ORIGIN)
    register(identity.login(user), authenticator)
    first = identity.client()
    challenge = start_login(first, user)
    assertion = authenticator.get(challenge["webauthn_options"])
    body = {"challenge_token": challenge["challenge_token"], "webauthn": assertion}
    assert first.post("/v1/auth/mfa/verify", json=body).status_code == 200
    second = identity.client()
    fresh = start_login(second, user)
    replay = second.post(
        "/v1/auth/mfa/verify",
        json={"challenge_token": fresh["challenge_token"], "webauthn": assertion},
    )
    assert replay.status_code == 401


def test_a_wrong_origin_or_key_is_refused(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization, Role.AGENT)
    authenticator = SoftAuthenticator(ORIGIN)
    register(identity.login(user), authenticator)
    client = identity.client()
    challenge = start_login(client, user)
    phishing = authenticator.get(challenge["webauthn_options"], origin="https://kallglot.evil")
    refused = client.post(
        "/v1/auth/mfa/verify",
        json={"challenge_token": challenge["challenge_token"], "webauthn": phishing},
    )
    assert refused.status_code == 401
    impostor = SoftAuthenticator(ORIGIN)
    impostor.credential_id = authenticator.credential_id  # same id, different private key
    forged = impostor.get(challenge["webauthn_options"])
    assert (
        client.post(
            "/v1/auth/mfa/verify",
            json={"challenge_token": challenge["challenge_token"], "webauthn": forged},
        ).status_code
        == 401
    )
    garbage = client.post(
        "/v1/auth/mfa/verify",
        json={"challenge_token": challenge["challenge_token"], "webauthn": {"id": "x"}},
    )
    assert garbage.status_code == 401


def test_a_registration_from_another_origin_is_refused(identity: Identity) -> None:
    client = identity.client_as(Role.AGENT)
    options = client.post("/v1/auth/mfa/webauthn/register/options").json()["public_key"]
    credential = SoftAuthenticator(ORIGIN).create(options, origin="https://kallglot.evil")
    refused = client.post("/v1/auth/mfa/webauthn/register", json={"credential": credential})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "webauthn_verification_failed"
    assert client.get("/v1/auth/mfa/webauthn/credentials").json()["data"] == []


def test_removing_the_last_key_turns_mfa_off(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization, Role.AGENT)
    client = identity.login(user)
    register(client, SoftAuthenticator(ORIGIN))
    (key,) = client.get("/v1/auth/mfa/webauthn/credentials").json()["data"]
    wrong = client.request(
        "DELETE", f"/v1/auth/mfa/webauthn/credentials/{key['id']}", json={"password": "nope"}
    )
    assert wrong.status_code == 401
    removed = client.request(
        "DELETE", f"/v1/auth/mfa/webauthn/credentials/{key['id']}", json={"password": user.password}
    )
    assert removed.status_code == 204
    assert client.get("/v1/auth/me").json()["user"]["mfa_enabled"] is False
    login = identity.client().post(
        "/v1/auth/login", json={"email": user.email, "password": user.password}
    )
    assert login.json()["status"] == "signed_in"


def test_a_key_satisfies_the_organization_requirement(identity: Identity) -> None:
    organization = identity.organization()
    owner = identity.client_as(Role.OWNER, organization, mfa=True)
    owner.patch("/v1/organization", json={"require_mfa": True})
    agent = identity.user(organization, Role.AGENT)
    client = identity.login(agent)
    assert client.get("/v1/organization").status_code == 403
    register(client, SoftAuthenticator(ORIGIN))
    assert client.get("/v1/organization").status_code == 200
    (key,) = client.get("/v1/auth/mfa/webauthn/credentials").json()["data"]
    kept = client.request(
        "DELETE",
        f"/v1/auth/mfa/webauthn/credentials/{key['id']}",
        json={"password": agent.password},
    )
    assert kept.status_code == 409
    assert kept.json()["error"]["code"] == "mfa_required_by_organization"
