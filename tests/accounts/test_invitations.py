"""Invitations: mailed, expiring, single-use; roles; at least one owner stays."""

from __future__ import annotations

from datetime import timedelta

import time_machine

from kallglot.accounts.permissions import Role
from kallglot.core.clock import utcnow
from tests.accounts.mail_helpers import last_mail_to, token_in
from tests.conftest import MigratedDatabase
from tests.factories import Identity

PASSWORD = "a long and unusual passphrase 7"


def invite(identity: Identity, role: str = "agent", email: str = "new.agent@example.com") -> str:
    organization = identity.organization()
    admin = identity.client_as(Role.ADMIN, organization)
    response = admin.post("/v1/invitations", json={"email": email, "role": role})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_invited_person_joins_with_the_mailed_token(
    identity: Identity, database: MigratedDatabase
) -> None:
    invite(identity)
    message = last_mail_to(database, "new.agent@example.com")
    assert message.status == "outbox"
    token = token_in(message)
    client = identity.client()
    accepted = client.post(
        "/v1/invitations/accept", json={"token": token, "name": "Ana Agent", "password": PASSWORD}
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["role"] == "agent"
    login = client.post(
        "/v1/auth/login", json={"email": "new.agent@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200
    assert login.json()["organization_id"] == accepted.json()["organization_id"]


def test_an_invitation_is_good_once(identity: Identity, database: MigratedDatabase) -> None:
    invite(identity)
    token = token_in(last_mail_to(database, "new.agent@example.com"))
    body = {"token": token, "name": "Ana Agent", "password": PASSWORD}
    client = identity.client()
    assert client.post("/v1/invitations/accept", json=body).status_code == 201
    again = client.post("/v1/invitations/accept", json=body)
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invitation_used"


def test_an_expired_invitation_is_refused(identity: Identity, database: MigratedDatabase) -> None:
    invite(identity)
    token = token_in(last_mail_to(database, "new.agent@example.com"))
    client = identity.client()
    with time_machine.travel(utcnow() + timedelta(days=8)):
        response = client.post(
            "/v1/invitations/accept",
            json={"token": token, "name": "Ana Agent", "password": PASSWORD},
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invitation_expired"


def test_a_revoked_or_forged_invitation_is_refused(
    identity: Identity, database: MigratedDatabase
) -> None:
    organization = identity.organization()
    admin = identity.client_as(Role.ADMIN, organization)
    created = admin.post("/v1/invitations", json={"email": "x@example.com", "role": "agent"})
    token = token_in(last_mail_to(database, "x@example.com"))
    assert admin.delete(f"/v1/invitations/{created.json()['id']}").status_code == 200
    client = identity.client()
    for candidate in (token, "inv_" + "A" * 43):
        response = client.post(
            "/v1/invitations/accept", json={"token": candidate, "name": "X", "password": PASSWORD}
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invitation_invalid"


def test_an_existing_account_joins_with_its_password(
    identity: Identity, database: MigratedDatabase
) -> None:
    other = identity.organization("Other Org")
    person = identity.user(other, Role.AGENT, email="both@example.com")
    invite(identity, "supervisor", "both@example.com")
    token = token_in(last_mail_to(database, "both@example.com"))
    client = identity.client()
    wrong = client.post("/v1/invitations/accept", json={"token": token, "password": "wrong one"})
    assert wrong.status_code == 401
    right = client.post(
        "/v1/invitations/accept", json={"token": token, "password": person.password}
    )
    assert right.status_code == 201
    assert right.json()["user_id"] == person.id


def test_only_owners_invite_owners_and_unknown_roles_are_refused(identity: Identity) -> None:
    organization = identity.organization()
    admin = identity.client_as(Role.ADMIN, organization)
    owner_invite = admin.post("/v1/invitations", json={"email": "o@example.com", "role": "owner"})
    assert owner_invite.status_code == 403
    unknown = admin.post("/v1/invitations", json={"email": "o@example.com", "role": "emperor"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["param"] == "role"
    bad_email = admin.post("/v1/invitations", json={"email": "not-an-email", "role": "agent"})
    assert bad_email.status_code == 422
    assert bad_email.json()["error"]["param"] == "email"


def test_the_last_owner_cannot_be_demoted_or_removed(identity: Identity) -> None:
    organization = identity.organization()
    owner = identity.user(organization, Role.OWNER)
    client = identity.login(owner)
    demote = client.patch(f"/v1/members/{owner.member_id}", json={"role": "admin"})
    assert demote.status_code == 409
    assert demote.json()["error"]["code"] == "last_owner"
    remove = client.delete(f"/v1/members/{owner.member_id}")
    assert remove.status_code == 409
    second = identity.user(organization, Role.OWNER)
    assert (
        client.patch(f"/v1/members/{second.member_id}", json={"role": "admin"}).status_code == 200
    )


def test_admins_cannot_touch_owners(identity: Identity) -> None:
    organization = identity.organization()
    owner = identity.user(organization, Role.OWNER)
    identity.user(organization, Role.OWNER)
    agent = identity.user(organization, Role.AGENT)
    admin = identity.client_as(Role.ADMIN, organization)
    assert admin.patch(f"/v1/members/{owner.member_id}", json={"role": "agent"}).status_code == 403
    assert admin.patch(f"/v1/members/{agent.member_id}", json={"role": "owner"}).status_code == 403
    assert (
        admin.patch(f"/v1/members/{agent.member_id}", json={"role": "supervisor"}).json()["role"]
        == "supervisor"
    )


def test_a_role_change_ends_the_members_sessions(identity: Identity) -> None:
    organization = identity.organization()
    agent = identity.user(organization, Role.AGENT)
    agent_client = identity.login(agent)
    admin = identity.client_as(Role.ADMIN, organization)
    admin.patch(f"/v1/members/{agent.member_id}", json={"role": "supervisor"})
    assert agent_client.get("/v1/auth/me").status_code == 401
    assert identity.login(agent).get("/v1/auth/me").json()["role"] == "supervisor"


def test_an_existing_account_with_mfa_also_gives_a_code(
    identity: Identity, database: MigratedDatabase
) -> None:
    other = identity.organization("Other Org")
    person = identity.user(other, Role.AGENT, email="mfa.person@example.com", mfa=True)
    invite(identity, "agent", "mfa.person@example.com")
    token = token_in(last_mail_to(database, "mfa.person@example.com"))
    client = identity.client()
    without = client.post(
        "/v1/invitations/accept", json={"token": token, "password": person.password}
    )
    assert without.status_code == 401
    with_code = client.post(
        "/v1/invitations/accept",
        json={"token": token, "password": person.password, "code": person.totp_code()},
    )
    assert with_code.status_code == 201, with_code.text
