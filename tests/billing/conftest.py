"""Billing fixtures: settings pointing the Stripe SDK at a local server, sessions with timings."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import stripe
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer

from kallglot.accounts.permissions import Role
from kallglot.core.settings import Settings, load_settings
from kallglot.db.engine import transaction
from kallglot.realtime import service
from kallglot.realtime.models import CallSession
from kallglot.realtime.schemas import CreateSession
from kallglot.realtime.state import SessionStatus
from tests.conftest import MigratedDatabase
from tests.factories import BASE_URL, Identity, Org

WEBHOOK_SECRET = "whsec_test_secret"
PRICE_ID = "price_1QmeteredKallglot"


@pytest.fixture
def settings(database: MigratedDatabase, tmp_path: Path, httpserver: HTTPServer) -> Settings:
    return load_settings(
        env="test",
        database_url=database.url,
        var_dir=tmp_path / "var",
        password_hash_time_cost=1,
        password_hash_memory_cost=64,
        password_hash_parallelism=1,
        stripe_api_key="sk_test_kallglot",
        stripe_api_base=httpserver.url_for("").rstrip("/"),
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_price_id=PRICE_ID,
    )


SignIn = Callable[[Role, Org], TestClient]


@pytest.fixture
def signed_in(identity: Identity) -> Iterator[SignIn]:
    """A member of ``org`` with ``role``, signed in, on a client that does not run the app's
    lifespan: billing needs neither the speech warm-up nor the webhook dispatcher."""
    clients: list[TestClient] = []

    def make(role: Role, org: Org) -> TestClient:
        client = TestClient(identity.app, base_url=BASE_URL, raise_server_exceptions=False)
        clients.append(client)
        return identity.login(identity.user(org, role), client)

    yield make
    for client in clients:
        client.close()


def ended_session(
    database: MigratedDatabase,
    organization_id: str,
    seconds: float,
    *,
    mode: str = "bidirectional_translation",
    pair: tuple[str, str] = ("es", "en"),
    recording: bool = False,
) -> str:
    """A session that ran ``seconds`` from first audio to its end, through the real transitions."""
    with transaction(database.sessions) as db:
        call, _ = service.create_session(
            db,
            organization_id,
            CreateSession.model_validate(
                {
                    "mode": mode,
                    "source_language": pair[0],
                    "target_language": pair[1],
                    "recording": {"enabled": recording},
                }
            ),
            timedelta(minutes=5),
        )
        service.transition(db, call, SessionStatus.CONNECTING, "connected")
        service.transition(db, call, SessionStatus.ACTIVE, "audio_started")
        assert call.started_at is not None
        call.started_at -= timedelta(seconds=seconds)
        service.finish(db, call, "completed")
        return call.id


def live_session(database: MigratedDatabase, organization_id: str, seconds: float) -> CallSession:
    """A session active for ``seconds`` so far."""
    with transaction(database.sessions) as db:
        call, _ = service.create_session(
            db,
            organization_id,
            CreateSession.model_validate({"mode": "transcription"}),
            timedelta(minutes=5),
        )
        service.transition(db, call, SessionStatus.CONNECTING, "connected")
        service.transition(db, call, SessionStatus.ACTIVE, "audio_started")
        assert call.started_at is not None
        call.started_at -= timedelta(seconds=seconds)
        db.flush()
        db.expunge(call)
        return call


def stripe_event(event_id: str, kind: str, created: int, obj: dict[str, Any]) -> str:
    """A webhook body shaped like Stripe's documented ``event`` object."""
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": created,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
            "data": {"object": obj},
        }
    )


def deliver(
    client: TestClient, body: str, secret: str = WEBHOOK_SECRET, at: int | None = None
) -> Any:
    header = stripe.WebhookSignature.generate_signature_header(
        body, secret, timestamp=at if at is not None else int(time.time())
    )
    return client.post(
        "/v1/billing/stripe/webhook",
        content=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


PROFILE = {
    "company_name": "Société Générale d'Interprétation",
    "billing_email": "factures@example.fr",
    "address": {
        "line1": "12 rue de Rivoli",
        "postal_code": "75004",
        "city": "Paris",
        "country": "FR",
    },
    "vat_id": "FR40303265045",
    "iban": "FR14 2004 1010 0505 0001 3M02 606",
    "bic": "PSSTFRPPPAR",
    "purchase_order": "PO-2026-0042",
    "plan": "contract",
}
