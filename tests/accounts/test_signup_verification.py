"""Sign-up does not reveal whether an address has an account (issue 20, finding 9): the same
202 for every address; a new one is mailed a verification link and nothing exists until it is
used; an existing one is mailed a notice and nothing changes."""

from __future__ import annotations

from sqlalchemy import func, select

from kallglot.accounts.models import Organization, User
from kallglot.accounts.permissions import Role
from kallglot.audit.models import AuditEvent
from kallglot.mail.models import OutboxMessage
from tests.accounts.mail_helpers import last_mail_to, token_in
from tests.accounts.signup_helpers import GOOD_PASSWORD, signup_body
from tests.conftest import MigratedDatabase
from tests.factories import Identity


def _count(database: MigratedDatabase, model: type[User] | type[Organization]) -> int:
    with database.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_signup_answers_the_same_for_a_new_and_an_existing_address(
    identity: Identity, database: MigratedDatabase
) -> None:
    existing = identity.user(identity.organization(), Role.OWNER, email="taken@example.com")
    users, organizations = _count(database, User), _count(database, Organization)
    client = identity.client()
    new = client.post("/v1/auth/signup", json=signup_body(email="fresh@example.com"))
    taken = client.post("/v1/auth/signup", json=signup_body(email="Taken@Example.com"))
    assert new.status_code == taken.status_code == 202, (new.text, taken.text)
    assert new.json() == taken.json() == {"object": "signup", "status": "verification_sent"}
    # Nothing is created before the link is followed, and the existing account is untouched.
    assert (_count(database, User), _count(database, Organization)) == (users, organizations)
    notice = last_mail_to(database, existing.email)
    assert "already has an account" in notice.body and "token=" not in notice.body
    assert "#token=" in last_mail_to(database, "fresh@example.com").body
    with database.sessions() as db:
        attempted = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "user.signup_attempted")
        ).all()
    assert [event.target_id for event in attempted] == [existing.id]


def test_the_mailed_link_creates_the_organization_once(
    identity: Identity, database: MigratedDatabase
) -> None:
    client = identity.client()
    assert client.post("/v1/auth/signup", json=signup_body()).status_code == 202
    message = last_mail_to(database, "founder@example.com")
    assert GOOD_PASSWORD not in message.body
    token = token_in(message)
    created = client.post("/v1/auth/signup/verify", json={"token": token})
    assert created.status_code == 201, created.text
    assert client.get("/v1/auth/me").json()["role"] == "owner"
    again = identity.client().post("/v1/auth/signup/verify", json={"token": token})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "signup_token_invalid"
    login = identity.client().post(
        "/v1/auth/login", json={"email": "founder@example.com", "password": GOOD_PASSWORD}
    )
    assert login.status_code == 200, login.text


def test_a_forged_or_altered_token_is_refused(
    identity: Identity, database: MigratedDatabase
) -> None:
    client = identity.client()
    client.post("/v1/auth/signup", json=signup_body())
    token = token_in(last_mail_to(database, "founder@example.com"))
    altered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for bad in (altered, "not-a-token", "A" * 200):
        response = client.post("/v1/auth/signup/verify", json={"token": bad})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "signup_token_invalid"
    with database.sessions() as db:
        assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert _count(database, User) == 0
