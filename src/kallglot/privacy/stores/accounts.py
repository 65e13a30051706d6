"""Accounts: the user's profile, memberships, sign-in sessions, invitations and mail sent."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, delete, func, or_, select

from kallglot.accounts.models import (
    AuthSession,
    Invitation,
    Membership,
    RecoveryCode,
    User,
    WebAuthnCredential,
)
from kallglot.crypto import email_lookup_hash
from kallglot.mail import address_hash, read
from kallglot.mail.models import OutboxMessage
from kallglot.privacy.subjects import (
    Erased,
    Exported,
    StoreContext,
    organization_user_by_email,
    subject_store,
)

ERASED_NAME = "Erased user"
# Not an argon2 hash: no password ever verifies against it.
NO_PASSWORD = "!erased"  # noqa: S105


def _user(context: StoreContext) -> User | None:
    subject = context.subject
    if subject.user_id is not None:
        return context.session.get(User, subject.user_id)
    if subject.email is not None:
        return organization_user_by_email(context.session, subject.organization_id, subject.email)
    return None


def _email(context: StoreContext, user: User | None) -> str | None:
    return user.email.lower() if user is not None else context.subject.email


def _member_elsewhere(context: StoreContext, user: User | None) -> bool:
    if user is None:
        return False
    return bool(
        context.session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(
                Membership.user_id == user.id,
                Membership.organization_id != context.subject.organization_id,
            )
        )
    )


def _mail(context: StoreContext, user: User | None, email: str) -> ColumnElement[bool]:
    """The organization's own mail to the address; mail about the account itself (no
    organization) only when the account belongs to no other organization."""
    db, org_id = context.session, context.subject.organization_id
    ours = and_(
        OutboxMessage.organization_id == org_id,
        OutboxMessage.to_hash == address_hash(db, org_id, email),
    )
    if user is not None and not _member_elsewhere(context, user):
        about_account = and_(
            OutboxMessage.organization_id.is_(None),
            OutboxMessage.to_hash == address_hash(db, None, email),
        )
        ours = or_(ours, about_account)
    return ours


@subject_store("accounts")
class AccountStore:
    def export(self, context: StoreContext) -> Exported:
        db, org_id = context.session, context.subject.organization_id
        user = _user(context)
        out = Exported()
        email = _email(context, user)
        if user is not None:
            out.records.append(
                {
                    "kind": "user",
                    "id": user.id,
                    "email": user.email,
                    "name": user.name,
                    "phone_number": user.phone_number,
                    "created_at": user.created_at.isoformat(),
                    "mfa_enabled": user.mfa_enabled_at is not None,
                }
            )
            for membership in db.scalars(
                select(Membership).where(
                    Membership.user_id == user.id, Membership.organization_id == org_id
                )
            ):
                out.records.append(
                    {"kind": "membership", "organization_id": org_id, "role": membership.role}
                )
            for auth in db.scalars(
                select(AuthSession).where(
                    AuthSession.user_id == user.id, AuthSession.organization_id == org_id
                )
            ):
                out.records.append(
                    {
                        "kind": "sign_in_session",
                        "created_at": auth.created_at.isoformat(),
                        "last_seen_at": auth.last_seen_at.isoformat(),
                        "ip": auth.ip,
                        "user_agent": auth.user_agent,
                    }
                )
        if email is not None:
            for message in db.scalars(select(OutboxMessage).where(_mail(context, user, email))):
                sent = read(db, message, with_secret=False)
                out.records.append(
                    {
                        "kind": "mail",
                        "to": sent.to,
                        "subject": sent.subject,
                        "body": sent.body,
                        "created_at": message.created_at.isoformat(),
                    }
                )
        return out

    def erase(self, context: StoreContext) -> Erased:
        db, org_id = context.session, context.subject.organization_id
        user = _user(context)
        email = _email(context, user)
        removed = 0
        if email is not None:
            removed += _count(
                db.execute(
                    delete(Invitation).where(
                        Invitation.organization_id == org_id,
                        Invitation.email_hash == email_lookup_hash(db, org_id, email),
                    )
                )
            )
            removed += _count(db.execute(delete(OutboxMessage).where(_mail(context, user, email))))
        if user is None:
            return Erased(removed=removed)
        for table in (Membership, AuthSession):
            removed += _count(
                db.execute(
                    delete(table).where(table.user_id == user.id, table.organization_id == org_id)
                )
            )
        elsewhere = db.scalar(
            select(func.count()).select_from(Membership).where(Membership.user_id == user.id)
        )
        if not elsewhere:
            # The row stays (other tables point at the id) but says nothing about the person.
            for owned in (WebAuthnCredential, RecoveryCode, AuthSession):
                db.execute(delete(owned).where(owned.user_id == user.id))
            user.email = f"erased+{user.id}@invalid"
            user.name = ERASED_NAME
            user.phone_number = None
            user.password_hash = NO_PASSWORD
            user.totp_secret = user.totp_pending_secret = None
            user.is_active = False
            removed += 1
        return Erased(removed=removed)


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
