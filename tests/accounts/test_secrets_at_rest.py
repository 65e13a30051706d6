"""The mail outbox never holds a live secret nor an address in clear (issue 20, finding 5):
reading the database is not enough to take over an account."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import FromClause, update

from kallglot import mail
from kallglot.accounts.models import Invitation, Organization, User
from kallglot.accounts.organizations import create_user
from kallglot.accounts.permissions import Role
from kallglot.core.clock import utcnow
from kallglot.crypto import email_lookup_hash
from kallglot.db import migrate
from kallglot.db.engine import transaction
from kallglot.db.registry import metadata
from kallglot.mail.models import OutboxMessage
from kallglot.mail.sender import SENT_BODY_RETENTION, purge_sent_bodies
from kallglot.privacy.models import LegalRequest
from tests.accounts.mail_helpers import last_mail_to, token_in
from tests.conftest import MigratedDatabase
from tests.factories import Identity
from tests.privacy.subjects_seed import raw_bytes


def raw_database(database: MigratedDatabase, tmp_path: Path) -> bytes:
    """The bytes at rest: SQLite's files, or on PostgreSQL every table dumped."""
    if database.backend == "sqlite":
        return raw_bytes(database, tmp_path / "no-blobs")
    return table_dump(database, *metadata.sorted_tables)


def table_dump(database: MigratedDatabase, *tables: FromClause) -> bytes:
    with database.engine.connect() as connection:
        return "\n".join(
            repr(row) for table in tables for row in connection.execute(table.select())
        ).encode()


def test_reset_and_invitation_links_and_codes_are_not_in_the_database(
    identity: Identity, database: MigratedDatabase, tmp_path: Path
) -> None:
    org = identity.organization()
    owner = identity.client_as(Role.OWNER, org)
    user = identity.user(org, Role.AGENT)
    invitee, outsider = "invitee-5b1@example.com", "outsider-5b1@example.com"
    assert (
        owner.post("/v1/invitations", json={"email": invitee, "role": "agent"}).status_code == 201
    )
    reset = identity.client().post("/v1/auth/password-reset", json={"email": user.email})
    assert reset.status_code in (200, 202, 204), reset.text
    request = owner.post("/v1/privacy/requests", json={"type": "access", "email": outsider})
    sent = owner.post(f"/v1/privacy/requests/{request.json()['id']}/send-code")
    assert sent.status_code == 200, sent.text

    invitation_token = token_in(last_mail_to(database, invitee))
    reset_token = token_in(last_mail_to(database, user.email))
    code = (last_mail_to(database, outsider).body or "").split()[3].rstrip(".")
    assert len(code) == 6 and code.isdigit()

    everything = raw_database(database, tmp_path)
    for secret in (invitation_token, reset_token, invitation_token.removeprefix("inv_")):
        assert secret.encode() not in everything
    # Nobody has signed up with these addresses: the invitation and the outbox held them.
    for address in (invitee, outsider):
        assert address.encode() not in everything
    outbox = table_dump(database, OutboxMessage.__table__)
    for address in (invitee, outsider, user.email):
        assert address.encode() not in outbox
    assert f"code is {code}".encode() not in everything

    # What was mailed works: the link's token signs the invitee up, the code verifies.
    accepted = identity.client().post(
        "/v1/invitations/accept",
        json={"token": invitation_token, "name": "Ina Vitee", "password": "x" * 16 + "A1!"},
    )
    assert accepted.status_code == 201, accepted.text
    verified = owner.post(
        f"/v1/privacy/requests/{request.json()['id']}/verify", json={"code": code}
    )
    assert verified.status_code == 200, verified.text


def test_bodies_of_delivered_mail_are_dropped_after_the_retention(
    identity: Identity, database: MigratedDatabase
) -> None:
    with transaction(database.sessions) as db:
        old = mail.send(db, identity.settings, mail.Mail("a@example.com", "Old", "old body"))
        waiting = mail.send(db, identity.settings, mail.Mail("b@example.com", "New", "new body"))
        db.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == old.id)
            .values(status="sent", sent_at=utcnow() - SENT_BODY_RETENTION - timedelta(hours=1))
        )
        assert purge_sent_bodies(db) == 1
    assert last_mail_to(database, "a@example.com").body is None
    assert last_mail_to(database, "b@example.com").body == "new body"
    assert waiting.status == "outbox"


def test_totp_secrets_and_phone_numbers_are_not_in_the_database(
    identity: Identity, database: MigratedDatabase, tmp_path: Path
) -> None:
    org = identity.organization()
    phone = "+4915112345678"
    with transaction(database.sessions) as db:
        user_id = create_user(
            db,
            identity.settings,
            email="phoned@example.com",
            name="Phoned",
            password="x" * 20,
            phone_number=phone,
            check_rules=False,
        ).id
    with database.sessions() as db:
        assert db.get_one(User, user_id).phone_number == phone
    with_mfa = identity.user(org, Role.AGENT, mfa=True)
    client = identity.login(with_mfa)  # the second factor still verifies
    setting_up = identity.login(identity.user(org, Role.AGENT))
    pending = setting_up.post("/v1/auth/mfa/totp/setup")
    assert pending.status_code == 200, pending.text
    assert client.get("/v1/auth/me").status_code == 200

    authority = "Landgericht Marker-31f"
    compliance = identity.client_as(Role.COMPLIANCE, org)
    body = {"authority": authority, "legal_basis": "StPO §100g", "scope": "calls"}
    assert compliance.post("/v1/privacy/legal-requests", json=body).status_code == 201
    listed = compliance.get("/v1/privacy/legal-requests").json()
    assert [entry["authority"] for entry in listed] == [authority]

    everything = raw_database(database, tmp_path)
    assert with_mfa.totp_secret is not None
    for secret in (with_mfa.totp_secret, pending.json()["secret"], phone, authority):
        assert secret.encode() not in everything


INVITATION_COLUMNS = (
    "id",
    "organization_id",
    "email",
    "role",
    "token_hash",
    "expires_at",
    "created_at",
)
LEGAL_COLUMNS = (
    "id",
    "organization_id",
    "authority",
    "legal_basis",
    "received_at",
    "decision",
    "details",
    "created_at",
)


def test_the_migration_encrypts_existing_secrets_phone_numbers_and_authorities(
    database: MigratedDatabase,
) -> None:
    secret, phone = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "+4915199887766"
    migrate.downgrade(database.url, "0012")
    users = sa.table(
        "users",
        *(sa.column(name) for name in ("id", "email", "name", "password_hash")),
        *(sa.column(name) for name in ("password_changed_at", "is_active", "created_at")),
        sa.column("totp_secret"),
        sa.column("phone_number"),
    )
    now = utcnow()
    with database.engine.begin() as connection:
        connection.execute(
            sa.insert(users).values(
                id="usr_legacytotp",
                email="legacy@example.com",
                name="Legacy",
                password_hash="!",
                password_changed_at=now,
                is_active=True,
                created_at=now,
                totp_secret=secret,
                phone_number=phone,
            )
        )
    authority = "Staatsanwaltschaft Marker-9d2"
    with database.engine.begin() as connection:
        connection.execute(
            sa.insert(Organization.__table__).values(
                id="org_legacy", name="Legacy", slug="legacy-9d2", created_at=now
            )
        )
        connection.execute(
            sa.insert(sa.table("legal_requests", *map(sa.column, LEGAL_COLUMNS))).values(
                id="lreq_legacy",
                organization_id="org_legacy",
                authority=authority,
                legal_basis="StPO",
                received_at=now,
                decision="pending",
                details=b"sealed elsewhere",
                created_at=now,
            )
        )
        invited = "invited-legacy@example.com"
        connection.execute(
            sa.insert(sa.table("invitations", *map(sa.column, INVITATION_COLUMNS))).values(
                id="inv_legacy",
                organization_id="org_legacy",
                email=invited,
                role="agent",
                token_hash="0" * 64,
                expires_at=now,
                created_at=now,
            )
        )
    migrate.upgrade(database.url)
    dump = table_dump(database, User.__table__, LegalRequest.__table__, Invitation.__table__)
    for value in (secret, phone, authority, invited):
        assert value.encode() not in dump
    with database.sessions() as db:
        legacy = db.get_one(User, "usr_legacytotp")
        assert (legacy.totp_secret, legacy.phone_number) == (secret, phone)
        assert db.get_one(LegalRequest, "lreq_legacy").authority == authority
        invitation = db.get_one(Invitation, "inv_legacy")
        assert invitation.email == invited
        assert invitation.email_hash == email_lookup_hash(db, "org_legacy", invited)
