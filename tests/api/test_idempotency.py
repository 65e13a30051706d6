"""Idempotency-Key: replay with the same body, refusal with another one."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kallglot.accounts.models import Organization
from kallglot.core.ids import new_id
from kallglot.core.schemas import RequestModel
from kallglot.http.deps import DbSession
from tests.conftest import MigratedDatabase
from tests.factories import Identity


class OrganizationIn(RequestModel):
    name: str


@pytest.fixture
def api(app: FastAPI) -> TestClient:
    @app.post("/v1/test-organizations", status_code=201)
    def create(body: OrganizationIn, db: DbSession) -> dict[str, str]:
        organization = Organization(id=new_id("org"), name=body.name, slug=new_id("slug"))
        db.add(organization)
        return {"id": organization.id, "name": organization.name}

    @app.post("/v1/test-failures")
    def fail() -> None:
        raise RuntimeError("boom")

    return TestClient(app, raise_server_exceptions=False)


def count_organizations(database: MigratedDatabase) -> int:
    with database.sessions() as session:
        return session.scalar(select(func.count()).select_from(Organization)) or 0


def test_same_key_and_body_replays_the_first_response(
    api: TestClient, database: MigratedDatabase
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = api.post("/v1/test-organizations", json={"name": "Acme"}, headers=headers)
    second = api.post("/v1/test-organizations", json={"name": "Acme"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert count_organizations(database) == 1


def test_same_key_with_another_body_is_refused_as_a_mismatch(
    api: TestClient, database: MigratedDatabase
) -> None:
    headers = {"Idempotency-Key": "order-43"}
    api.post("/v1/test-organizations", json={"name": "Acme"}, headers=headers)
    response = api.post("/v1/test-organizations", json={"name": "Other"}, headers=headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "idempotency_mismatch")
    assert count_organizations(database) == 1


def test_the_same_json_in_another_spelling_replays(
    api: TestClient, database: MigratedDatabase
) -> None:
    headers = {"Idempotency-Key": "order-44", "Content-Type": "application/json"}
    api.post("/v1/test-organizations", content=b'{"name": "Acme"}', headers=headers)
    again = api.post("/v1/test-organizations", content=b'{ "name":"Acme" }', headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert count_organizations(database) == 1


def test_keys_are_scoped_to_the_organization(
    api: TestClient, database: MigratedDatabase, identity: Identity
) -> None:
    acme, other = identity.organization("Acme"), identity.organization("Other")
    callers = [identity.api_key(acme), identity.api_key(acme), identity.api_key(other)]
    replayed = []
    for key in callers:
        response = api.post(
            "/v1/test-organizations",
            json={"name": "Acme"},
            headers={"Idempotency-Key": "shared", "Authorization": f"Bearer {key.secret}"},
        )
        assert response.status_code == 201
        replayed.append("idempotent-replayed" in response.headers)
    # The second key of Acme meets Acme's key; the other organization's key does not.
    assert replayed == [False, True, False]
    assert count_organizations(database) == 2 + 2


def test_server_errors_are_not_stored(api: TestClient) -> None:
    headers = {"Idempotency-Key": "retry-me"}
    assert api.post("/v1/test-failures", headers=headers).status_code == 500
    again = api.post("/v1/test-failures", headers=headers)
    assert again.status_code == 500
    assert "idempotent-replayed" not in again.headers


def test_a_too_long_key_is_refused(api: TestClient) -> None:
    response = api.post(
        "/v1/test-organizations", json={"name": "Acme"}, headers={"Idempotency-Key": "k" * 256}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
