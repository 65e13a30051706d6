"""Two API nodes sharing Redis see one presence board, one rate-limit budget and one
idempotent result; the embedded mode keeps the same behaviour in process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kallglot.accounts.models import Organization, ThrottleCounter
from kallglot.accounts.permissions import Role
from kallglot.api.app import create_app
from kallglot.api.idempotency import IdempotencyRecord
from kallglot.core.ids import new_id
from kallglot.core.schemas import RequestModel
from kallglot.core.settings import Settings, load_settings
from kallglot.http.deps import DbSession
from kallglot.infra.shared_state import InProcessSharedState, RedisSharedState, SharedState
from kallglot.scale import presence
from tests.conftest import MigratedDatabase
from tests.factories import BASE_URL, Identity
from tests.scale.conftest import SHARED_REDIS_URL


@pytest.fixture
def settings(database: MigratedDatabase, tmp_path: Path, prefix: str) -> Settings:
    """Node A's settings (the ``app`` and ``identity`` fixtures build on them)."""
    return _node_settings(database, tmp_path / "node-a", prefix, "node-a")


@pytest.fixture
def node_b(
    database: MigratedDatabase, tmp_path: Path, prefix: str, app: FastAPI
) -> Iterator[FastAPI]:
    other = create_app(_node_settings(database, tmp_path / "node-b", prefix, "node-b"))
    yield other
    other.state.engine.dispose()
    other.state.shared_state.close()
    app.state.shared_state.close()  # node A's lifespan does not run under these clients


def _node_settings(database: MigratedDatabase, var_dir: Path, prefix: str, node: str) -> Settings:
    return load_settings(
        env="test",
        database_url=database.url,
        var_dir=var_dir,
        redis_url=SHARED_REDIS_URL,
        redis_prefix=prefix,
        node_id=node,
        password_hash_time_cost=1,
        password_hash_memory_cost=64,
        password_hash_parallelism=1,
    )


def _client(app: FastAPI) -> TestClient:
    return TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)


def test_the_shared_state_is_redis_only_when_redis_is_configured(
    app: FastAPI, node_b: FastAPI, database: MigratedDatabase, tmp_path: Path
) -> None:
    assert isinstance(app.state.shared_state, RedisSharedState)
    embedded = create_app(load_settings(env="test", database_url=database.url, var_dir=tmp_path))
    try:
        assert isinstance(embedded.state.shared_state, InProcessSharedState)
    finally:
        embedded.state.engine.dispose()


async def test_failed_logins_on_two_nodes_count_against_one_budget(
    identity: Identity,
    node_b: FastAPI,
    database: MigratedDatabase,
    shared_redis: redis.Redis,
    prefix: str,
) -> None:
    user = identity.user(identity.organization(), Role.AGENT)
    wrong = {"email": user.email, "password": "definitely not it"}
    with _client(identity.app) as on_a, _client(node_b) as on_b:
        # Five free failures, then the sixth starts a 2 s back-off: 3 on each node.
        for attempt in range(6):
            node = on_a if attempt % 2 == 0 else on_b
            assert node.post("/v1/auth/login", json=wrong).status_code == 401
        for node in (on_a, on_b):
            blocked = node.post("/v1/auth/login", json=wrong)
            assert blocked.status_code == 429
            assert blocked.json()["error"]["code"] == "too_many_attempts"
    with database.sessions() as db:  # the budget lives in Redis, not the database
        assert db.scalar(select(func.count()).select_from(ThrottleCounter)) == 0
    assert [key async for key in shared_redis.scan_iter(match=f"{prefix}throttle:*")]


class OrganizationIn(RequestModel):
    name: str


def _add_held_create(app: FastAPI, entered: threading.Event, release: threading.Event) -> None:
    """A create that, once it runs, waits until the test lets it finish."""

    @app.post("/v1/test-organizations", status_code=201)
    def create(body: OrganizationIn, db: DbSession) -> dict[str, str]:
        entered.set()
        assert release.wait(timeout=60), "the test never released the first request"
        organization = Organization(id=new_id("org"), name=body.name, slug=new_id("slug"))
        db.add(organization)
        return {"id": organization.id, "name": organization.name}


def test_the_same_idempotency_key_on_two_nodes_at_once_has_one_side_effect(
    app: FastAPI, node_b: FastAPI, database: MigratedDatabase
) -> None:
    entered, release = threading.Event(), threading.Event()
    for node in (app, node_b):
        _add_held_create(node, entered, release)
    headers = {"Idempotency-Key": "order-7", "Authorization": "Bearer same-caller"}
    body = {"name": "Once Only"}
    responses: dict[str, httpx.Response] = {}

    def post(name: str, node: FastAPI) -> None:
        with _client(node) as client:
            responses[name] = client.post("/v1/test-organizations", json=body, headers=headers)

    first = threading.Thread(target=post, args=("a", app))
    first.start()
    # Node A's request is inside its handler, holding the key, when node B's arrives.
    assert entered.wait(timeout=60), "node A's request never reached its handler"
    post("b", node_b)
    release.set()
    first.join(timeout=60)
    assert not first.is_alive()
    statuses = sorted(response.status_code for response in responses.values())
    assert statuses == [201, 409]
    loser = next(r for r in responses.values() if r.status_code == 409)
    assert loser.json()["error"]["code"] == "idempotency_conflict"
    winner = next(r for r in responses.values() if r.status_code == 201)

    # Once the first has finished, either node replays its response.
    for node in (app, node_b):
        with _client(node) as client:
            again = client.post("/v1/test-organizations", json=body, headers=headers)
        assert again.status_code == 201
        assert again.json() == winner.json()
        assert again.headers["idempotent-replayed"] == "true"
    with database.sessions() as db:
        names = db.scalars(select(Organization.name).where(Organization.name == "Once Only"))
        assert list(names) == ["Once Only"]
        assert db.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


def test_a_presence_change_on_one_node_is_seen_on_the_other(
    identity: Identity, node_b: FastAPI
) -> None:
    organization = identity.organization()
    admin = identity.client_as(Role.ADMIN, organization)
    anna = identity.user(organization, Role.AGENT)
    created = admin.post(
        "/v1/routing/agents",
        json={"user_id": anna.id, "display_name": "Anna", "languages": ["de"]},
    )
    assert created.status_code == 201, created.text
    agent_id = created.json()["id"]
    board_a: SharedState = identity.app.state.shared_state
    board_b: SharedState = node_b.state.shared_state

    with _client(identity.app) as on_a, _client(node_b) as on_b:
        identity.login(anna, on_a)
        assert on_a.put("/v1/routing/me/presence", json={"presence": "available"}).is_success
        assert presence.board(board_b, organization.id)[agent_id]["presence"] == "available"

        on_b.cookies = on_a.cookies  # the same signed-in agent, now served by node B
        on_b.headers.update(on_a.headers)
        assert on_b.put("/v1/routing/me/presence", json={"presence": "away"}).is_success
        assert presence.board(board_a, organization.id)[agent_id]["presence"] == "away"
