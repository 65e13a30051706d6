"""Idempotency-Key in embedded mode (no Redis: keys live in the database): a key still
in flight is answered 409, and a key is forgotten after its 24 hours."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kallglot.accounts.models import Organization
from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.core.schemas import RequestModel
from kallglot.http.deps import DbSession
from kallglot.infra.shared_state import InProcessSharedState

HEADERS = {"Idempotency-Key": "order-9", "Authorization": "Bearer same-caller"}


class OrganizationIn(RequestModel):
    name: str


def _route(app: FastAPI, entered: threading.Event, release: threading.Event) -> None:
    @app.post("/v1/test-organizations", status_code=201)
    def create(body: OrganizationIn, db: DbSession) -> dict[str, str]:
        entered.set()
        assert release.wait(timeout=60), "the test never released the request"
        organization = Organization(id=new_id("org"), name=body.name, slug=new_id("slug"))
        db.add(organization)
        return {"id": organization.id, "name": organization.name}


def test_a_key_still_in_flight_is_answered_409_then_replayed(app: FastAPI) -> None:
    assert isinstance(app.state.shared_state, InProcessSharedState)  # embedded mode
    entered, release = threading.Event(), threading.Event()
    _route(app, entered, release)
    body = {"name": "In Flight"}
    first: list[httpx.Response] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        running = threading.Thread(
            target=lambda: first.append(
                client.post("/v1/test-organizations", json=body, headers=HEADERS)
            )
        )
        running.start()
        assert entered.wait(timeout=60), "the first request never reached its handler"
        again = client.post("/v1/test-organizations", json=body, headers=HEADERS)
        release.set()
        running.join(timeout=60)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "idempotency_conflict"
        assert again.headers["Retry-After"] == "1"
        assert first[0].status_code == 201
        replayed = client.post("/v1/test-organizations", json=body, headers=HEADERS)
    assert replayed.status_code == 201 and replayed.json() == first[0].json()
    assert replayed.headers["idempotent-replayed"] == "true"


def test_a_key_is_forgotten_after_24_hours(app: FastAPI) -> None:
    released = threading.Event()
    released.set()
    _route(app, threading.Event(), released)
    start = utcnow()
    with TestClient(app, raise_server_exceptions=False) as client:
        with time_machine.travel(start, tick=False):
            created = client.post("/v1/test-organizations", json={"name": "A"}, headers=HEADERS)
        assert created.status_code == 201
        with time_machine.travel(start + timedelta(hours=23), tick=False):
            other = client.post("/v1/test-organizations", json={"name": "B"}, headers=HEADERS)
        assert other.status_code == 400  # still remembered: another body is a mismatch
        assert other.json()["error"]["code"] == "idempotency_mismatch"
        with time_machine.travel(start + timedelta(hours=24, minutes=1), tick=False):
            fresh = client.post("/v1/test-organizations", json={"name": "B"}, headers=HEADERS)
        assert fresh.status_code == 201 and fresh.json()["name"] == "B"
        assert "idempotent-replayed" not in fresh.headers
