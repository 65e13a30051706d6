"""TOTP with replay protection, recovery codes, the organization's MFA requirement."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import time_machine
from fastapi.testclient import TestClient

from kallglot.accounts.permissions import Role
from kallglot.core.clock import utcnow
from tests.accounts.mfa_helpers import enable_totp
from tests.factories import Identity, Member


def password_step(client: TestClient, user: Member) -> str:
    response = client.post("/v1/auth/login", json={"email": user.email, "password": user.password})
    assert response.status_code == 200
    assert response.json()["status"] == "mfa_required"
    assert response.json()["session_id"] is None
    return str(response.json()["challenge_token"])


def test_enabling_totp_then_signing_in_needs_the_code(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization, Role.AGENT)
    client = identity.login(user)
    secret, codes = enable_totp(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    fresh = identity.client()
    challenge = password_step(fresh, user)
    assert fresh.get("/v1/auth/me").status_code == 401  # the password alone opens nothing
    with time_machine.travel(utcnow() + timedelta(seconds=31)):
        code = pyotp.TOTP(secret).now()
        done = fresh.post("/v1/auth/mfa/verify", json={"challenge_token": challenge, "code": code})
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "signed_in"
        assert fresh.get("/v1/auth/me").status_code == 200


def test_a_replayed_totp_code_is_refused(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization, Role.AGENT, mfa=True)
    now = utcnow()
    with time_machine.travel(now, tick=False):
        code = user.totp_code(now)
        first = identity.client()
        challenge = password_step(first, user)
        ok = first.post("/v1/auth/mfa/verify", json={"challenge_token": challenge, "code": code})
        assert ok.status_code == 200
        second = identity.client()
        challenge = password_step(second, user)
        replay = second.post(
            "/v1/auth/mfa/verify", json={"challenge_token": challenge, "code": code}
        )
        assert replay.status_code == 401
        assert replay.json()["error"]["code"] == "invalid_mfa_code"


def test_a_wrong_code_and_an_expired_challenge_are_refused(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization, Role.AGENT, mfa=True)
    client = identity.client()
    challenge = password_step(client, user)
    wrong = client.post(
        "/v1/auth/mfa/verify", json={"challenge_token": challenge, "code": "000000"}
    )
    if user.totp_code() != "000000":
        assert wrong.status_code == 401
    with time_machine.travel(utcnow() + timedelta(minutes=6)):
        late = client.post(
            "/v1/auth/mfa/verify",
            json={"challenge_token": challenge, "code": user.totp_code()},
        )
    assert late.status_code == 401
    assert late.json()["error"]["code"] == "invalid_challenge"


def test_a_recovery_code_works_once(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization, Role.AGENT)
    _secret, codes = enable_totp(identity.login(user))
    first = identity.client()
    ok = first.post(
        "/v1/auth/mfa/verify",
        json={"challenge_token": password_step(first, user), "recovery_code": codes[0].upper()},
    )
    assert ok.status_code == 200
    second = identity.client()
    again = second.post(
        "/v1/auth/mfa/verify",
        json={"challenge_token": password_step(second, user), "recovery_code": codes[0]},
    )
    assert again.status_code == 401


def test_disabling_totp_needs_password_and_code(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization, Role.AGENT)
    client = identity.login(user)
    secret, _codes = enable_totp(client)
    with time_machine.travel(utcnow() + timedelta(seconds=31)):
        code = pyotp.TOTP(secret).now()
        wrong = client.post(
            "/v1/auth/mfa/totp/disable", json={"password": "not it at all", "code": code}
        )
        assert wrong.status_code == 401
    with time_machine.travel(utcnow() + timedelta(seconds=62)):
        code = pyotp.TOTP(secret).now()
        ok = client.post(
            "/v1/auth/mfa/totp/disable", json={"password": user.password, "code": code}
        )
        assert ok.status_code == 200, ok.text


def test_enabling_mfa_rotates_the_session_and_can_end_the_others(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization, Role.AGENT)
    elsewhere = identity.login(user)
    client = identity.login(user)
    before = client.get("/v1/auth/me").json()["session_id"]
    setup = client.post("/v1/auth/mfa/totp/setup").json()
    confirmed = client.post(
        "/v1/auth/mfa/totp/confirm",
        json={"code": pyotp.TOTP(setup["secret"]).now(), "end_other_sessions": True},
    )
    assert confirmed.status_code == 200
    assert confirmed.json()["session_id"] != before
    assert confirmed.json()["other_sessions"] == 0
    assert client.get("/v1/auth/me").json()["session_id"] == confirmed.json()["session_id"]
    assert elsewhere.get("/v1/auth/me").status_code == 401


def test_organization_mfa_requirement_confines_members_without_mfa(identity: Identity) -> None:
    organization = identity.organization()
    owner = identity.client_as(Role.OWNER, organization)
    agent = identity.user(organization, Role.AGENT)
    assert owner.patch("/v1/organization", json={"require_mfa": True}).status_code == 200
    agent_client = identity.login(agent)
    me = agent_client.get("/v1/auth/me")
    assert me.status_code == 200 and me.json()["mfa_enrollment_required"] is True
    refused = agent_client.get("/v1/organization")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "mfa_enrollment_required"
    enable_totp(agent_client)
    assert agent_client.get("/v1/organization").status_code == 200


def test_agents_cannot_set_the_mfa_requirement(identity: Identity) -> None:
    agent = identity.client_as(Role.AGENT)
    assert agent.patch("/v1/organization", json={"require_mfa": True}).status_code == 403
