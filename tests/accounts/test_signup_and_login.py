"""Sign-up, password login with argon2id, the session cookie and CSRF."""

from __future__ import annotations

from http.cookies import SimpleCookie

from sqlalchemy import select

from kallglot.accounts.models import AuthSession, User
from kallglot.accounts.permissions import Role
from kallglot.accounts.sessions import CSRF_COOKIE, SECURE_COOKIE
from kallglot.audit.models import AuditEvent
from tests.accounts.mail_helpers import last_mail_to, token_in
from tests.accounts.signup_helpers import signup_body
from tests.conftest import MigratedDatabase
from tests.factories import Identity


def set_cookie_headers(response: object) -> dict[str, SimpleCookie]:
    cookies = {}
    for header in response.headers.get_list("set-cookie"):  # type: ignore[attr-defined]
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        for name in parsed:
            cookies[name] = parsed
    return cookies


def test_signup_creates_organization_owner_and_a_secure_session(
    identity: Identity, database: MigratedDatabase
) -> None:
    client = identity.client()
    started = client.post("/v1/auth/signup", json=signup_body())
    assert started.status_code == 202, started.text
    token = token_in(last_mail_to(database, "founder@example.com"))
    response = client.post("/v1/auth/signup/verify", json={"token": token})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["organization"]["name"] == "Acme Interpreting"
    assert body["user"]["email"] == "founder@example.com"
    cookies = set_cookie_headers(response)
    session_cookie = cookies[SECURE_COOKIE][SECURE_COOKIE]
    assert session_cookie["httponly"] is True
    assert session_cookie["secure"] is True
    assert session_cookie["samesite"].lower() == "lax"
    assert session_cookie["path"] == "/"
    assert cookies[CSRF_COOKIE][CSRF_COOKIE]["httponly"] == ""
    me = client.get("/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["role"] == "owner"
    with database.sessions() as db:
        user = db.scalar(select(User))
        assert user is not None and user.password_hash.startswith("$argon2id$")
        token = session_cookie.value
        stored = db.scalar(select(AuthSession))
        assert stored is not None and token not in stored.token_hash


def test_signup_refuses_a_short_or_common_password(identity: Identity) -> None:
    client = identity.client()
    short = client.post("/v1/auth/signup", json=signup_body(password="tiny pass"))
    assert short.status_code == 422
    assert short.json()["error"]["code"] == "password_too_short"
    common = client.post("/v1/auth/signup", json=signup_body(password="123456789012345"))
    assert common.json()["error"]["code"] == "password_too_common"


def test_login_with_the_right_password_sets_the_cookie(identity: Identity) -> None:
    organization = identity.organization()
    user = identity.user(organization, Role.SUPERVISOR)
    client = identity.login(user)
    me = client.get("/v1/auth/me").json()
    assert me["user"]["id"] == user.id
    assert me["role"] == "supervisor"


def test_wrong_password_is_401_and_audited(identity: Identity, database: MigratedDatabase) -> None:
    organization = identity.organization()
    user = identity.user(organization)
    client = identity.client()
    response = client.post(
        "/v1/auth/login", json={"email": user.email, "password": "not the password at all"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    unknown = client.post(
        "/v1/auth/login", json={"email": "nobody@example.com", "password": "whatever it is"}
    )
    assert unknown.status_code == 401
    assert unknown.json()["error"]["code"] == "invalid_credentials"
    with database.sessions() as db:
        failures = db.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "auth.login", AuditEvent.result == "failure"
            )
        ).all()
    assert {event.organization_id for event in failures} == {organization.id, None}
    assert all("not the password" not in str(event.changes) for event in failures)


def test_cookie_authenticated_changes_need_the_csrf_token(identity: Identity) -> None:
    client = identity.client_as(Role.OWNER)
    csrf = client.headers.pop("X-CSRF-Token")
    refused = client.patch("/v1/organization", json={"name": "Renamed"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_token_invalid"
    wrong = client.patch(
        "/v1/organization", json={"name": "Renamed"}, headers={"X-CSRF-Token": "x" * 43}
    )
    assert wrong.status_code == 403
    accepted = client.patch(
        "/v1/organization", json={"name": "Renamed"}, headers={"X-CSRF-Token": csrf}
    )
    assert accepted.status_code == 200
    assert accepted.json()["name"] == "Renamed"


def test_logout_ends_the_session(identity: Identity) -> None:
    client = identity.client_as(Role.AGENT)
    assert client.post("/v1/auth/logout").status_code == 204
    assert client.get("/v1/auth/me").status_code == 401


def test_password_hash_is_upgraded_when_parameters_change(
    identity: Identity, database: MigratedDatabase
) -> None:
    organization = identity.organization()
    user = identity.user(organization)
    before = identity.get_user(user.id).password_hash
    identity.settings.password_hash_time_cost = 2
    identity.login(user)
    after = identity.get_user(user.id).password_hash
    assert before != after
    assert "t=2" in after and "t=1" in before
