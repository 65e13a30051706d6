"""Inviting people into an organization by email.

The invitation token is 256 random bits, mailed once and stored as a digest; it
expires, and it is good for one acceptance. Accepting creates the account (or adds
the existing account to the organization once its password is given).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from kallglot import audit, mail
from kallglot.accounts import mfa, passwords, throttle
from kallglot.accounts.isolation import get_for_organization
from kallglot.accounts.models import Invitation, Membership, Organization, User
from kallglot.accounts.organizations import (
    add_member,
    check_grant,
    create_user,
    find_user_by_email,
    normalise_email,
)
from kallglot.accounts.permissions import Role
from kallglot.accounts.principal import Principal
from kallglot.accounts.tokens import digest
from kallglot.audit import AuditContext, SystemActor
from kallglot.core.clock import utcnow
from kallglot.core.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    ValidationFailedError,
)
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings
from kallglot.crypto import email_lookup_hash
from kallglot.db.engine import transaction

INVITATION_LIFETIME = timedelta(days=7)
TOKEN_PREFIX = "inv_"  # noqa: S105 (a prefix, not a secret)


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str


def invite(
    db: Session, settings: Settings, principal: Principal, *, email: str, role: Role
) -> IssuedInvitation:
    check_grant(principal, role)
    email = normalise_email(email)
    existing_user = find_user_by_email(db, email)
    if existing_user is not None and db.scalar(
        select(Membership).where(
            Membership.organization_id == principal.organization_id,
            Membership.user_id == existing_user.id,
        )
    ):
        raise ConflictError(
            "This person is already a member.", code="already_member", param="email"
        )
    now = utcnow()
    email_hash = email_lookup_hash(db, principal.organization_id, email)
    # A new invitation replaces any open one for the same address.
    db.execute(
        update(Invitation)
        .where(
            Invitation.organization_id == principal.organization_id,
            Invitation.email_hash == email_hash,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    # The link's token is computed, never stored: the outbox keeps only where it goes.
    invitation_id = new_id("inv")
    secret_ref = f"invitation:{invitation_id}"
    token = TOKEN_PREFIX + mail.mailed_secret(db, secret_ref)
    invitation = Invitation(
        id=invitation_id,
        organization_id=principal.organization_id,
        email_hash=email_hash,
        role=str(role),
        token_hash=digest(token),
        invited_by=principal.actor_id,
        expires_at=now + INVITATION_LIFETIME,
    )
    db.add(invitation)
    invitation.email = email  # encrypted: needs the row in the session
    db.flush()
    organization = db.get(Organization, principal.organization_id)
    assert organization is not None
    link = f"{settings.public_base_url}/invitations/accept#token={TOKEN_PREFIX}{mail.SECRET}"
    mail.send(
        db,
        settings,
        mail.Mail(
            to=email,
            subject=f"You are invited to {organization.name} on Kallglot",
            body=(
                f"You have been invited to join {organization.name} on Kallglot as {role}.\n\n"
                f"Accept within 7 days:\n{link}\n\n"
                "If you did not expect this, ignore this message.\n"
            ),
            organization_id=principal.organization_id,
            secret_ref=secret_ref,
        ),
    )
    audit.record(
        db,
        principal,
        "invitation.created",
        target=("invitation", invitation.id),
        changes={"role": str(role)},
    )
    return IssuedInvitation(invitation, token)


def revoke(db: Session, principal: Principal, invitation_id: str) -> Invitation:
    invitation = get_for_organization(
        db, Invitation, invitation_id, principal.organization_id, what="invitation"
    )
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        audit.record(db, principal, "invitation.revoked", target=("invitation", invitation.id))
    return invitation


@dataclass(frozen=True)
class Accepted:
    organization_id: str
    user_id: str
    member_id: str
    role: Role


def accept(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    token: str,
    name: str | None,
    password: str,
    phone_number: str | None,
    context: AuditContext,
    code: str | None = None,
    recovery_code: str | None = None,
) -> Accepted:
    ip_key = throttle.ip_key("invitation", context.ip)
    account_key: str | None = None
    with transaction(sessions) as db:
        throttle.check(db, [ip_key])
        invitation = db.scalar(
            select(Invitation).where(Invitation.token_hash == digest(token)).with_for_update()
        )
        problem = _problem(invitation)
        if invitation is not None and problem is None:
            address = invitation.email or ""  # always set: the column is not nullable
            # Guessing an existing account's password here counts like a failed login.
            account_key = throttle.account_key("login", address)
            throttle.check(db, [account_key])
            user = find_user_by_email(db, address)
            if user is None:
                if not name:
                    raise ValidationFailedError(
                        "Give your name to create the account.",
                        code="missing_required_field",
                        param="name",
                    )
                user = create_user(
                    db,
                    settings,
                    email=address,
                    name=name,
                    password=password,
                    phone_number=phone_number,
                )
            elif not _existing_account_proven(db, settings, user, password, code, recovery_code):
                user = None
            if user is not None:
                return _join(db, invitation, user, context)
    with transaction(sessions) as db:
        throttle.fail(db, ip_key, throttle.IP_POLICY)
        if account_key is not None:
            throttle.fail(db, account_key, throttle.ACCOUNT_POLICY)
    if problem is not None:
        raise problem
    raise AuthenticationError(
        "You already have an account: give its password (and a code if it has MFA) to accept.",
        code="invalid_credentials",
        param="password",
    )


def _existing_account_proven(
    db: Session,
    settings: Settings,
    user: User,
    password: str,
    code: str | None,
    recovery_code: str | None,
) -> bool:
    """An existing account joins with its password, and its second factor if it has one."""
    if not passwords.verify_password(settings, user.password_hash, password):
        return False
    if not user.mfa_enabled:
        return True
    locked = db.get(User, user.id, with_for_update=True, populate_existing=True)
    assert locked is not None
    if code:
        return mfa.verify_totp(locked, code)
    if recovery_code:
        return mfa.use_recovery_code(db, locked, recovery_code)
    return False


def _problem(invitation: Invitation | None) -> InvalidRequestError | None:
    if invitation is None or invitation.revoked_at is not None:
        return InvalidRequestError(
            "This invitation is not valid.", code="invitation_invalid", param="token"
        )
    if invitation.accepted_at is not None:
        return InvalidRequestError(
            "This invitation was already used.", code="invitation_used", param="token"
        )
    if invitation.expires_at <= utcnow():
        return InvalidRequestError(
            "This invitation has expired; ask for a new one.",
            code="invitation_expired",
            param="token",
        )
    return None


def _join(db: Session, invitation: Invitation, user: User, context: AuditContext) -> Accepted:
    if db.scalar(
        select(Membership).where(
            Membership.organization_id == invitation.organization_id,
            Membership.user_id == user.id,
        )
    ):
        raise ConflictError("You are already a member.", code="already_member")
    invitation.accepted_at = utcnow()
    role = Role(invitation.role)
    membership = add_member(db, invitation.organization_id, user.id, role)
    actor = SystemActor(
        organization_id=invitation.organization_id, actor_type="user", actor_id=user.id
    )
    audit.record(
        db, actor, "invitation.accepted", target=("invitation", invitation.id), context=context
    )
    audit.record(
        db,
        actor,
        "member.added",
        target=("member", membership.id),
        changes={"role": str(role), "invitation": invitation.id},
        context=context,
    )
    return Accepted(invitation.organization_id, user.id, membership.id, role)
