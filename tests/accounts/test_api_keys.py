"""API keys: shown once, stored hashed, scoped, expiring, revocable, tracked."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import select

from kallglot.accounts.models import ApiKey
from kallglot.accounts.permissions import Permission, Role
from kallglot.core.clock import utcnow
from tests.conftest import MigratedDatabase
from tests.factories import Identity


def test_created_key_is_shown_once_and_stored_hashed(
    identity: Identity, database: MigratedDatabase
) -> None:
    owner = identity.client_as(Role.OWNER)
    response = owner.post(
        "/v1/api-keys", json={"name": "backend", "scopes": ["sessions:read", "sessions:write"]}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    secret = created["secret"]
    assert secret.startswith("sk_test_") and len(secret) == len("sk_test_") + 43
    shown = owner.get(f"/v1/api-keys/{created['id']}").json()
    assert "secret" not in shown and shown["last_four"] == secret[-4:]
    with database.sessions() as db:
        stored = db.scalar(select(ApiKey))
        assert stored is not None and secret not in stored.key_hash


def test_bearer_and_x_api_key_authenticate(identity: Identity) -> None:
    organization = identity.organization()
    key = identity.api_key(organization, [Permission.ORGANIZATION_READ])
    client = identity.client()
    bearer = client.get("/v1/organization", headers={"Authorization": f"Bearer {key.secret}"})
    assert bearer.status_code == 200 and bearer.json()["id"] == organization.id
    header = client.get("/v1/organization", headers={"X-API-Key": key.secret})
    assert header.status_code == 200


def test_scopes_limit_what_a_key_can_do(identity: Identity) -> None:
    organization = identity.organization()
    client = identity.key_client(identity.api_key(organization, [Permission.ORGANIZATION_READ]))
    assert client.get("/v1/organization").status_code == 200
    assert client.get("/v1/members").status_code == 403


def test_a_key_cannot_carry_more_than_its_creator_holds(identity: Identity) -> None:
    admin = identity.client_as(Role.ADMIN)
    response = admin.post("/v1/api-keys", json={"name": "x", "scopes": ["audit:read"]})
    assert response.status_code == 403
    user_only = admin.post("/v1/api-keys", json={"name": "x", "scopes": ["api_keys:manage"]})
    assert user_only.status_code == 422
    assert user_only.json()["error"]["code"] == "scope_not_allowed"
    unknown = admin.post("/v1/api-keys", json={"name": "x", "scopes": ["calls:fly"]})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["param"].startswith("scopes")


def test_revoked_key_is_refused(identity: Identity) -> None:
    owner = identity.client_as(Role.OWNER)
    created = owner.post("/v1/api-keys", json={"name": "x", "scopes": ["organization:read"]}).json()
    client = identity.client()
    headers = {"Authorization": f"Bearer {created['secret']}"}
    assert client.get("/v1/organization", headers=headers).status_code == 200
    revoked = owner.delete(f"/v1/api-keys/{created['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = client.get("/v1/organization", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "revoked_api_key"


def test_expired_key_is_refused(identity: Identity) -> None:
    organization = identity.organization()
    key = identity.api_key(
        organization, [Permission.ORGANIZATION_READ], expires_at=utcnow() + timedelta(days=1)
    )
    client = identity.key_client(key)
    assert client.get("/v1/organization").status_code == 200
    with time_machine.travel(utcnow() + timedelta(days=2)):
        refused = client.get("/v1/organization")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "expired_api_key"


def test_last_used_time_is_recorded(identity: Identity, database: MigratedDatabase) -> None:
    organization = identity.organization()
    key = identity.api_key(organization, [Permission.ORGANIZATION_READ])
    identity.key_client(key).get("/v1/organization")
    with database.sessions() as db:
        stored = db.get(ApiKey, key.id)
        assert stored is not None and stored.last_used_at is not None


def test_malformed_keys_get_the_error_envelope(identity: Identity) -> None:
    client = identity.client()
    for header in (
        {"Authorization": "Bearer sk_test_short"},
        {"Authorization": "Bearer " + "sk_test_" + "a" * 5000},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"X-API-Key": "sk_live_" + "A" * 43},
        {"X-API-Key": ("sk_test_" + "\u00e9" * 43).encode("latin-1")},
    ):
        response = client.get("/v1/organization", headers=header)
        assert response.status_code == 401, header
        assert response.json()["error"]["type"] == "authentication_error"
