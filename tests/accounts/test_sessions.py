"""Session timeouts, rotation at login, listing and ending sessions."""

from __future__ import annotations

from datetime import timedelta

import time_machine

from kallglot.accounts.permissions import Role
from kallglot.accounts.sessions import SECURE_COOKIE
from kallglot.core.clock import utcnow
from tests.factories import Identity


def test_an_idle_session_ends_after_thirty_minutes(identity: Identity) -> None:
    client = identity.client_as(Role.AGENT)
    start = utcnow()
    with time_machine.travel(start + timedelta(minutes=29)):
        assert client.get("/v1/auth/me").status_code == 200  # activity keeps it alive
    with time_machine.travel(start + timedelta(minutes=58)):
        assert client.get("/v1/auth/me").status_code == 200
    with time_machine.travel(start + timedelta(minutes=89)):
        response = client.get("/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "session_expired"


def test_a_busy_session_still_ends_after_twelve_hours(identity: Identity) -> None:
    client = identity.client_as(Role.AGENT)
    start = utcnow()
    for minutes in range(20, 12 * 60, 20):
        with time_machine.travel(start + timedelta(minutes=minutes)):
            assert client.get("/v1/auth/me").status_code == 200
    with time_machine.travel(start + timedelta(hours=12, minutes=1)):
        assert client.get("/v1/auth/me").status_code == 401


def test_timeouts_are_configurable(identity: Identity) -> None:
    identity.settings.session_idle_timeout_minutes = 5
    client = identity.client_as(Role.AGENT)
    with time_machine.travel(utcnow() + timedelta(minutes=6)):
        assert client.get("/v1/auth/me").status_code == 401


def test_login_rotates_the_session_token(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization)
    client = identity.login(user)
    old_token = client.cookies.get(SECURE_COOKIE)
    old_id = client.get("/v1/auth/me").json()["session_id"]
    identity.login(user, client)
    assert client.cookies.get(SECURE_COOKIE) != old_token
    assert client.get("/v1/auth/me").json()["session_id"] != old_id
    stale = identity.client()
    stale.cookies.set(SECURE_COOKIE, old_token or "")
    assert stale.get("/v1/auth/me").status_code == 401


def test_users_list_and_end_their_own_sessions(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization)
    laptop = identity.login(user)
    phone = identity.login(user)
    listed = laptop.get("/v1/auth/sessions").json()["data"]
    assert len(listed) == 2
    current = [item for item in listed if item["current"]]
    assert len(current) == 1
    other = next(item for item in listed if not item["current"])
    assert laptop.delete(f"/v1/auth/sessions/{other['id']}").status_code == 200
    assert phone.get("/v1/auth/me").status_code == 401
    assert laptop.get("/v1/auth/me").status_code == 200


def test_nobody_ends_someone_elses_session_by_id(identity: Identity) -> None:
    organization = identity.organization()
    victim = identity.login(identity.user(organization))
    victim_session = victim.get("/v1/auth/me").json()["session_id"]
    attacker = identity.client_as(Role.AGENT, organization)
    assert attacker.delete(f"/v1/auth/sessions/{victim_session}").status_code == 404
    assert victim.get("/v1/auth/me").status_code == 200


def test_admins_end_a_members_sessions(identity: Identity) -> None:
    organization = identity.organization()
    agent = identity.user(organization)
    agent_client = identity.login(agent)
    admin = identity.client_as(Role.ADMIN, organization)
    ended = admin.delete(f"/v1/members/{agent.member_id}/sessions")
    assert ended.status_code == 200 and ended.json()["ended"] == 1
    assert agent_client.get("/v1/auth/me").status_code == 401


def test_changing_the_password_rotates_and_offers_to_end_others(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization)
    other = identity.login(user)
    client = identity.login(user)
    kept = client.post(
        "/v1/auth/password",
        json={"current_password": user.password, "new_password": "another long passphrase 99"},
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["other_sessions"] == 1
    client.headers["X-CSRF-Token"] = kept.json()["csrf_token"]
    assert other.get("/v1/auth/me").status_code == 200
    ended = client.post(
        "/v1/auth/password",
        json={
            "current_password": "another long passphrase 99",
            "new_password": "yet another passphrase 1234",
            "end_other_sessions": True,
        },
    )
    assert ended.json()["other_sessions"] == 0
    assert other.get("/v1/auth/me").status_code == 401
    client.headers["X-CSRF-Token"] = ended.json()["csrf_token"]
    assert client.get("/v1/auth/me").status_code == 200
