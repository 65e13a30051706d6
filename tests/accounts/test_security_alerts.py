"""Security alerts (privacy policy, "how we use data"): the user is mailed when their account's
safety changes, the owners when someone gains wide powers or personal data is exported. Each
mail goes through the outbox, is audited, and carries no secret."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import time_machine
from sqlalchemy import select

from kallglot import mail
from kallglot.accounts.permissions import Role
from kallglot.audit.models import AuditEvent
from kallglot.core.clock import utcnow
from tests.accounts.mail_helpers import mails_to as newest_mails_to
from tests.accounts.mfa_helpers import enable_totp
from tests.accounts.soft_authenticator import SoftAuthenticator
from tests.accounts.webauthn_helpers import ORIGIN, register
from tests.conftest import MigratedDatabase
from tests.factories import Identity

NEW_PASSWORD = "another long passphrase 99"


def mails_to(database: MigratedDatabase, address: str) -> list[mail.ReadMail]:
    """Oldest first (the outbox stores addresses encrypted: each mail is read back)."""
    return list(reversed(newest_mails_to(database, address)))


def subjects(database: MigratedDatabase, address: str) -> list[str]:
    return [message.subject for message in mails_to(database, address)]


def alerts_audited(database: MigratedDatabase, user_id: str) -> list[str]:
    with database.sessions() as db:
        events = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "security_alert.sent", AuditEvent.target_id == user_id)
            .order_by(AuditEvent.id)
        )
        return [str((event.changes or {})["alert"]) for event in events]


def test_password_change_and_mfa_changes_are_mailed_without_secrets(
    identity: Identity, database: MigratedDatabase
) -> None:
    user = identity.user(identity.organization(), Role.AGENT)
    client = identity.login(user)
    changed = client.post(
        "/v1/auth/password",
        json={"current_password": user.password, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200, changed.text
    client.headers["X-CSRF-Token"] = changed.json()["csrf_token"]
    secret, codes = enable_totp(client)
    with time_machine.travel(utcnow() + timedelta(seconds=62)):
        disabled = client.post(
            "/v1/auth/mfa/totp/disable",
            json={"password": NEW_PASSWORD, "code": pyotp.TOTP(secret).now()},
        )
        assert disabled.status_code == 200, disabled.text
    assert subjects(database, user.email) == [
        "Your Kallglot password was changed",
        "Two-factor authentication turned on",
        "Two-factor authentication turned off",
    ]
    assert alerts_audited(database, user.id) == ["password_changed", "mfa_added", "mfa_removed"]
    bodies = " ".join(message.body or "" for message in mails_to(database, user.email))
    for secret_value in (user.password, NEW_PASSWORD, secret, *codes):
        assert secret_value not in bodies
    assert "token=" not in bodies


def test_a_sign_in_from_a_new_browser_is_mailed_and_a_known_one_is_not(
    identity: Identity, database: MigratedDatabase
) -> None:
    user = identity.user(identity.organization(), Role.AGENT)
    first = identity.client()
    first.headers["User-Agent"] = "Firefox/133 on Linux"
    identity.login(user, first)  # the first sign-in ever is no news
    again = identity.client()
    again.headers["User-Agent"] = "Firefox/133 on Linux"
    identity.login(user, again)
    assert subjects(database, user.email) == []
    other = identity.client()
    other.headers["User-Agent"] = "Chrome/131 on Windows"
    identity.login(user, other)
    assert subjects(database, user.email) == ["New sign-in to your Kallglot account"]
    assert alerts_audited(database, user.id) == ["new_device_sign_in"]


def test_api_key_and_passkey_created_are_mailed(
    identity: Identity, database: MigratedDatabase
) -> None:
    owner = identity.user(identity.organization(), Role.OWNER)
    client = identity.login(owner)
    created = client.post("/v1/api-keys", json={"name": "CRM sync", "scopes": ["calls:read"]})
    assert created.status_code == 201, created.text
    register(client, SoftAuthenticator(ORIGIN))
    assert subjects(database, owner.email) == [
        "An API key was created",
        "A security key was added",
    ]
    assert created.json()["secret"] not in (mails_to(database, owner.email)[0].body or "")
    assert "CRM sync" in (mails_to(database, owner.email)[0].body or "")


def test_role_changes_reach_the_member_and_new_compliance_members_reach_the_owners(
    identity: Identity, database: MigratedDatabase
) -> None:
    org = identity.organization()
    owner = identity.user(org, Role.OWNER)
    co_owner = identity.user(org, Role.OWNER)
    agent = identity.user(org, Role.AGENT)
    client = identity.login(owner)
    response = client.patch(f"/v1/members/{agent.member_id}", json={"role": "supervisor"})
    assert response.status_code == 200, response.text
    assert subjects(database, agent.email) == ["Your role changed"]
    assert subjects(database, co_owner.email) == []
    response = client.patch(f"/v1/members/{agent.member_id}", json={"role": "compliance"})
    assert response.status_code == 200, response.text
    assert subjects(database, agent.email) == ["Your role changed", "Your role changed"]
    for each in (owner, co_owner):
        assert subjects(database, each.email) == ["A member gained wide access"]
    assert "compliance" in (mails_to(database, agent.email)[-1].body or "")


def test_owners_hear_of_an_export_of_personal_data(
    identity: Identity, database: MigratedDatabase
) -> None:
    org = identity.organization()
    owner = identity.user(org, Role.OWNER)
    supervisor = identity.login(identity.user(org, Role.SUPERVISOR))
    exported = supervisor.get("/v1/calls/export")
    assert exported.status_code == 200, exported.text
    assert subjects(database, owner.email) == ["Personal data was exported"]
    assert alerts_audited(database, owner.id) == ["personal_data_exported"]
