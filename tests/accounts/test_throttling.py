"""Brute force: exponential back-off per account and per IP, 429 with Retry-After."""

from __future__ import annotations

from datetime import timedelta

import time_machine

from kallglot.accounts.permissions import Role
from kallglot.core.clock import utcnow
from tests.factories import Identity


def test_repeated_wrong_passwords_back_off_exponentially(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization, Role.AGENT)
    client = identity.client()
    wrong = {"email": user.email, "password": "definitely not it"}
    start = utcnow()
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            assert client.post("/v1/auth/login", json=wrong).status_code == 401
        assert client.post("/v1/auth/login", json=wrong).status_code == 401  # 6th: now 2 s
        blocked = client.post("/v1/auth/login", json=wrong)
        assert blocked.status_code == 429
        assert blocked.json()["error"]["type"] == "rate_limit_error"
        assert blocked.headers["Retry-After"] == "2"
        # Even the right password waits: the account is backing off.
        right = {"email": user.email, "password": user.password}
        assert client.post("/v1/auth/login", json=right).status_code == 429
    with time_machine.travel(start + timedelta(seconds=3), tick=False):
        assert client.post("/v1/auth/login", json=wrong).status_code == 401  # 7th: now 4 s
        assert client.post("/v1/auth/login", json=wrong).headers["Retry-After"] == "4"


def test_there_is_no_permanent_lockout(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization, Role.AGENT)
    client = identity.client()
    wrong = {"email": user.email, "password": "definitely not it"}
    moment = utcnow()
    waits = []
    for _ in range(40):
        with time_machine.travel(moment, tick=False):
            response = client.post("/v1/auth/login", json=wrong)
            if response.status_code == 429:
                assert response.json()["error"]["code"] == "too_many_attempts"
                waits.append(int(response.headers["Retry-After"]))
                moment += timedelta(seconds=waits[-1])
    # The back-off doubled up to its ceiling and stayed there, never beyond.
    assert waits[:3] == [2, 4, 8]
    assert max(waits) == 15 * 60 and waits[-1] == 15 * 60
    with time_machine.travel(moment + timedelta(minutes=16), tick=False):
        right = client.post("/v1/auth/login", json={"email": user.email, "password": user.password})
    assert right.status_code == 200


def test_one_ip_trying_many_accounts_is_throttled(identity: Identity) -> None:
    client = identity.client()
    now = utcnow()
    statuses = []
    with time_machine.travel(now, tick=False):
        for number in range(23):
            response = client.post(
                "/v1/auth/login",
                json={"email": f"user{number}@example.com", "password": "guessing again"},
            )
            statuses.append(response.status_code)
    assert statuses[:21] == [401] * 21
    assert statuses[-1] == 429


def test_mfa_codes_are_throttled(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization, Role.AGENT, mfa=True)
    client = identity.client()
    codes = []
    with time_machine.travel(utcnow(), tick=False):
        for _ in range(8):
            login = client.post(
                "/v1/auth/login", json={"email": user.email, "password": user.password}
            )
            if login.status_code != 200:
                codes.append(login.status_code)
                continue
            challenge = login.json()["challenge_token"]
            wrong = "123456" if user.totp_code() != "123456" else "654321"
            response = client.post(
                "/v1/auth/mfa/verify", json={"challenge_token": challenge, "code": wrong}
            )
            codes.append(response.status_code)
    assert 429 in codes
