"""Reusable identity fixtures for every domain's tests.

Loaded for the whole suite by ``pytest_plugins`` in ``tests/conftest.py``. Use::

    def test_agent_cannot_buy_numbers(identity: Identity) -> None:
        org = identity.organization()
        agent = identity.client_as(Role.AGENT, org)          # signed in through the real login
        assert agent.post("/v1/numbers", json={...}).status_code == 403

    def test_key_reads_calls(identity: Identity) -> None:
        org = identity.organization()
        client = identity.key_client(identity.api_key(org, [Permission.CALLS_READ]))

Everything goes through the real code: argon2 hashes (cheap test parameters),
the real login route and cookies (over https://testserver so that Secure cookies
travel), real TOTP codes from the secret.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kallglot.accounts import api_keys
from kallglot.accounts.models import Organization, User
from kallglot.accounts.organizations import add_member, create_user, slug_for
from kallglot.accounts.permissions import API_KEY_PERMISSIONS, Permission, Role
from kallglot.accounts.sessions import CSRF_HEADER
from kallglot.billing.metering import add_credit
from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings
from kallglot.db.engine import transaction
from tests.conftest import MigratedDatabase

BASE_URL = "https://testserver"


@dataclass(frozen=True)
class Org:
    id: str
    name: str


@dataclass
class Member:
    id: str
    email: str
    password: str
    name: str
    organization_id: str
    member_id: str
    role: Role
    totp_secret: str | None = None

    def totp_code(self, at: datetime | None = None) -> str:
        """The current TOTP code, computed from the secret like an authenticator app."""
        assert self.totp_secret is not None, "this user has no TOTP"
        return pyotp.TOTP(self.totp_secret).at(at or utcnow())


@dataclass(frozen=True)
class Key:
    id: str
    secret: str
    organization_id: str
    scopes: frozenset[Permission]


@dataclass
class Identity:
    app: FastAPI
    database: MigratedDatabase
    settings: Settings
    _clients: list[TestClient] = field(default_factory=list)

    def organization(self, name: str = "Acme Interpreting", *, credit_minutes: int = 60) -> Org:
        """A new organization with ``credit_minutes`` of prepaid credit (so it can place calls)."""
        with transaction(self.database.sessions) as db:
            organization = Organization(id=new_id("org"), name=name, slug=slug_for(name))
            db.add(organization)
            if credit_minutes:
                db.flush()
                add_credit(db, organization.id, credit_minutes * 60, "grant:test")
        return Org(organization.id, name)

    def user(
        self,
        organization: Org,
        role: Role = Role.AGENT,
        *,
        email: str | None = None,
        name: str = "Test Person",
        password: str | None = None,
        mfa: bool = False,
    ) -> Member:
        email = email or f"{role}-{secrets.token_hex(4)}@example.com"
        password = password or secrets.token_urlsafe(18)
        with transaction(self.database.sessions) as db:
            user = create_user(
                db, self.settings, email=email, name=name, password=password, check_rules=False
            )
            membership = add_member(db, organization.id, user.id, role)
            secret = None
            if mfa:
                secret = pyotp.random_base32(32)
                user.totp_secret = secret
                user.mfa_enabled_at = utcnow()
        return Member(
            id=user.id,
            email=user.email,
            password=password,
            name=name,
            organization_id=organization.id,
            member_id=membership.id,
            role=role,
            totp_secret=secret,
        )

    def add_membership(self, user: Member, organization: Org, role: Role) -> str:
        with transaction(self.database.sessions) as db:
            return add_member(db, organization.id, user.id, role).id

    def api_key(
        self,
        organization: Org,
        scopes: Iterable[Permission] | None = None,
        *,
        expires_at: datetime | None = None,
        name: str = "test key",
    ) -> Key:
        chosen = frozenset(API_KEY_PERMISSIONS if scopes is None else scopes)
        with transaction(self.database.sessions) as db:
            issued = api_keys.issue(
                db,
                self.settings,
                organization_id=organization.id,
                name=name,
                scopes=chosen,
                expires_at=expires_at,
            )
        return Key(issued.api_key.id, issued.secret, organization.id, chosen)

    def client(self) -> TestClient:
        """An anonymous client over https (Secure cookies travel), closed after the test.

        It does not run the app's lifespan: a test holds several clients of one app, and each
        lifespan's exit would dispose the engine under the others' background tasks. Tests that
        need the lifespan (warm-up, webhook dispatcher, sweeper) use the ``client`` fixture.
        """
        client = TestClient(self.app, base_url=BASE_URL, raise_server_exceptions=False)
        self._clients.append(client)
        return client

    def key_client(self, key: Key) -> TestClient:
        client = self.client()
        client.headers["Authorization"] = f"Bearer {key.secret}"
        return client

    def login(self, user: Member, client: TestClient | None = None) -> TestClient:
        """Sign ``user`` in through the real routes; the client then sends cookie and CSRF token."""
        client = client or self.client()
        response = client.post(
            "/v1/auth/login",
            json={
                "email": user.email,
                "password": user.password,
                "organization_id": user.organization_id,
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] == "mfa_required":
            response = client.post(
                "/v1/auth/mfa/verify",
                json={"challenge_token": body["challenge_token"], "code": user.totp_code()},
            )
            assert response.status_code == 200, response.text
            body = response.json()
        client.headers[CSRF_HEADER] = body["csrf_token"]
        return client

    def client_as(
        self, role: Role, organization: Org | None = None, *, mfa: bool = False
    ) -> TestClient:
        """A signed-in member with ``role`` (in a new organization unless one is given)."""
        return self.login(self.user(organization or self.organization(), role, mfa=mfa))

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()

    def get_user(self, user_id: str) -> User:
        with self.database.sessions() as db:
            user = db.get(User, user_id)
            assert user is not None
            db.expunge(user)
            return user


@pytest.fixture
def identity(app: FastAPI, database: MigratedDatabase, settings: Settings) -> Iterator[Identity]:
    factory = Identity(app, database, settings)
    yield factory
    factory.close()
