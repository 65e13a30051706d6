"""Rate limits per API key and per organization, shared by every node through Redis;
API credits spent by session creation, shown on every authenticated response."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from kallglot.accounts.permissions import Permission, Role
from kallglot.api.app import create_app
from kallglot.core.settings import PlanLimits, Settings
from tests.conftest import MigratedDatabase
from tests.factories import Identity

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"
CREATE = {"mode": "bidirectional_translation", "source_language": "es", "target_language": "en"}


def tight(
    settings: Settings, per_key: int, per_org: int, credits: int, **update: object
) -> Settings:
    limits = PlanLimits(
        requests_per_minute_per_key=per_key,
        requests_per_minute_per_organization=per_org,
        api_credits_per_month=credits,
    )
    return settings.model_copy(update={"plan_limits": {"free": limits}, **update})


@contextmanager
def node(settings: Settings, database: MigratedDatabase) -> Iterator[tuple[FastAPI, Identity]]:
    app = create_app(settings)
    identity = Identity(app, database, settings)
    try:
        yield app, identity
    finally:
        identity.close()
        app.state.engine.dispose()
        app.state.shared_state.close()


def in_one_window(run: Callable[[], list[Response]]) -> list[Response]:
    """``run`` (on fresh keys) until all its answers fall in one rate-limit window: a minute
    boundary in the middle of a run would reset the counters and prove nothing."""
    for _ in range(3):
        answers = run()
        if len({answer.headers["X-RateLimit-Reset"] for answer in answers}) == 1:
            return answers
    raise AssertionError("three runs in a row crossed a minute boundary")


def test_each_key_has_its_budget_and_the_organization_one_more(
    settings: Settings, database: MigratedDatabase
) -> None:
    with node(tight(settings, per_key=3, per_org=5, credits=10), database) as (_, identity):

        def run() -> list[Response]:
            organization = identity.organization()
            first, second = (
                identity.key_client(identity.api_key(organization, [Permission.SESSIONS_READ]))
                for _ in range(2)
            )
            return [first.get("/v1/sessions") for _ in range(4)] + [
                second.get("/v1/sessions") for _ in range(2)
            ]

        answers = in_one_window(run)
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 200, 429]
        assert [a.headers["X-RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
        assert {a.headers["X-RateLimit-Limit"] for a in answers[:4]} == {"3"}
        refused = answers[3]
        error = refused.json()["error"]
        assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
        assert 1 <= error["retry_after"] <= 60
        assert refused.headers["Retry-After"] == str(error["retry_after"])
        assert int(refused.headers["X-RateLimit-Reset"]) % 60 == 0
        # The second key has its own budget, but the organization's (5) runs out first.
        assert answers[4].headers["X-RateLimit-Limit"] == "5"
        assert answers[5].json()["error"]["code"] == "rate_limit_exceeded"
        # Another organization is untouched.
        other = identity.key_client(identity.api_key(identity.organization("Other")))
        assert other.get("/v1/sessions").status_code == 200


def test_anonymous_requests_carry_no_budget_headers(client: TestClient) -> None:
    response = client.get("/v1/sessions")
    assert response.status_code == 401
    assert "X-RateLimit-Limit" not in response.headers
    assert "X-API-Credits-Remaining" not in response.headers


def test_a_signed_in_member_has_a_budget_of_their_own(
    settings: Settings, database: MigratedDatabase
) -> None:
    with node(tight(settings, per_key=2, per_org=50, credits=10), database) as (_, identity):

        def run() -> list[Response]:
            organization = identity.organization()
            member, colleague = (identity.client_as(Role.AGENT, organization) for _ in range(2))
            return [member.get("/v1/sessions") for _ in range(3)] + [colleague.get("/v1/sessions")]

        answers = in_one_window(run)
    assert [a.status_code for a in answers] == [200, 200, 429, 200]
    assert answers[3].headers["X-API-Credits-Remaining"] == "10"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"kgtest:{secrets.token_hex(4)}:"
    yield prefix
    client = redis.Redis.from_url(SHARED_REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_two_nodes_on_redis_spend_one_budget(
    settings: Settings, database: MigratedDatabase, redis_prefix: str
) -> None:
    shared = tight(
        settings,
        per_key=4,
        per_org=100,
        credits=10,
        redis_url=SHARED_REDIS_URL,
        redis_prefix=redis_prefix,
    )
    with node(shared, database) as (_, one), node(shared, database) as (_, two):

        def run() -> list[Response]:
            key = one.api_key(one.organization(), [Permission.SESSIONS_READ])
            on_one, on_two = one.key_client(key), two.key_client(key)
            return [client.get("/v1/sessions") for client in (on_one, on_two) * 3]

        statuses = [answer.status_code for answer in in_one_window(run)]
    assert statuses == [200, 200, 200, 200, 429, 429]


def test_session_creation_spends_a_credit_until_none_is_left(
    settings: Settings, database: MigratedDatabase
) -> None:
    with node(tight(settings, per_key=100, per_org=100, credits=2), database) as (_, identity):
        client = identity.key_client(identity.api_key(identity.organization()))
        reading = client.get("/v1/sessions")
        assert reading.headers["X-API-Credits-Remaining"] == "2"
        assert reading.headers["X-API-Credits-Used"] == "0"
        once = {"Idempotency-Key": "create-once"}
        created = [client.post("/v1/sessions", json=CREATE, headers=once) for _ in range(2)]
        # The replay of an idempotent creation is not a second creation.
        assert created[1].headers["Idempotent-Replayed"] == "true"
        created = created[:1] + [client.post("/v1/sessions", json=CREATE) for _ in range(2)]
        assert [c.status_code for c in created] == [201, 201, 402]
        assert [c.headers["X-API-Credits-Remaining"] for c in created] == ["1", "0", "0"]
        assert [c.headers["X-API-Credits-Used"] for c in created] == ["1", "2", "2"]
        error = created[2].json()["error"]
        assert (error["type"], error["code"]) == ("permission_error", "insufficient_api_credits")
        # A refused creation (an unsupported pair) spends nothing.
        refused = client.post(
            "/v1/sessions", json={**CREATE, "source_language": "ja", "target_language": "fr"}
        )
        assert refused.status_code == 400
        assert refused.headers["X-API-Credits-Used"] == "2"
