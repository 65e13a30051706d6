"""Organizations and their members: sign-up, details, roles, the last-owner rule."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kallglot import audit
from kallglot.accounts import passwords
from kallglot.accounts import sessions as auth_sessions
from kallglot.accounts.isolation import get_for_organization
from kallglot.accounts.models import Membership, Organization, User
from kallglot.accounts.permissions import Role, may_grant
from kallglot.accounts.principal import Principal
from kallglot.accounts.schemas import OrganizationUpdate, SignupRequest
from kallglot.audit import AuditContext, SystemActor
from kallglot.core.clock import utcnow
from kallglot.core.errors import ConflictError, PermissionDeniedError
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings


def normalise_email(email: str) -> str:
    """Emails are compared case-insensitively (the domain is, and users expect the rest to be)."""
    return email.strip().lower()


def slug_for(name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "org"
    return f"{base}-{secrets.token_hex(3)}"


def find_user_by_email(db: Session, email: str) -> User | None:
    return db.scalar(select(User).where(User.email == normalise_email(email)))


def create_user(
    db: Session,
    settings: Settings,
    *,
    email: str,
    name: str,
    password: str,
    phone_number: str | None = None,
    check_rules: bool = True,
    password_hash: str | None = None,
) -> User:
    """A new user; ``password_hash`` (already checked and hashed) stands in for ``password``."""
    email = normalise_email(email)
    if check_rules and password_hash is None:
        passwords.check_password(password, email=email, name=name, mfa_enabled=False)
    if find_user_by_email(db, email) is not None:
        raise ConflictError(
            "An account with this email address already exists.", code="email_taken", param="email"
        )
    user = User(
        id=new_id("usr"),
        email=email,
        name=name,
        password_hash=password_hash or passwords.hash_password(settings, password),
        password_changed_at=utcnow(),
    )
    db.add(user)
    user.phone_number = phone_number  # encrypted: needs the user in the session
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:
        raise ConflictError(
            "An account with this email address already exists.", code="email_taken", param="email"
        ) from None
    return user


def add_member(db: Session, organization_id: str, user_id: str, role: Role) -> Membership:
    membership = Membership(
        id=new_id("mem"), organization_id=organization_id, user_id=user_id, role=str(role)
    )
    db.add(membership)
    db.flush()
    return membership


@dataclass(frozen=True)
class SignupResult:
    organization: Organization
    user: User
    session: auth_sessions.IssuedSession


def signup(
    db: Session,
    settings: Settings,
    body: SignupRequest,
    context: AuditContext,
    *,
    password_hash: str | None = None,
) -> SignupResult:
    """Create an organization, its first owner, and sign the owner in."""
    details = body.organization
    organization = Organization(
        id=new_id("org"),
        name=details.name,
        slug=slug_for(details.name),
        legal_name=details.legal_name,
        country=details.country,
        vat_id=details.vat_id,
        address=details.address,
    )
    db.add(organization)
    db.flush()
    user = create_user(
        db,
        settings,
        email=body.email,
        name=body.name,
        password=body.password,
        phone_number=body.phone_number,
        password_hash=password_hash,
    )
    membership = add_member(db, organization.id, user.id, Role.OWNER)
    actor = SystemActor(organization_id=organization.id, actor_type="user", actor_id=user.id)
    audit.record(
        db,
        actor,
        "organization.created",
        target=("organization", organization.id),
        changes={"name": organization.name, "country": organization.country},
        context=context,
    )
    audit.record(
        db,
        actor,
        "member.added",
        target=("member", membership.id),
        changes={"role": Role.OWNER},
        context=context,
    )
    issued = auth_sessions.start(
        db,
        settings,
        user_id=user.id,
        organization_id=organization.id,
        mfa_verified=False,
        context=context,
    )
    audit.record(
        db,
        actor,
        "auth.login",
        target=("user", user.id),
        changes={"method": "signup"},
        context=context,
    )
    return SignupResult(organization, user, issued)


def update_organization(
    db: Session, principal: Principal, body: OrganizationUpdate
) -> Organization:
    organization = db.get(Organization, principal.organization_id, with_for_update=True)
    assert organization is not None
    changes = body.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if field in ("name", "require_mfa") and value is None:  # not nullable: null = unchanged
            continue
        setattr(organization, field, value)
    if changes:
        action = "organization.mfa_requirement_changed" if "require_mfa" in changes else None
        audit.record(
            db,
            principal,
            action or "organization.updated",
            target=("organization", organization.id),
            changes=changes,
        )
    return organization


def owner_count(db: Session, organization_id: str) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.organization_id == organization_id, Membership.role == Role.OWNER)
        )
        or 0
    )


def check_grant(principal: Principal, role: Role) -> None:
    """Refuse giving (or taking away) a role with a permission the caller does not hold."""
    if not may_grant(principal.permissions, role):
        raise PermissionDeniedError(
            f"You cannot give or change the role '{role}': it has permissions you do not have.",
            param="role",
        )


def _guard_member_change(db: Session, principal: Principal, membership: Membership) -> None:
    # Lock the organization so that two owners cannot demote each other at once.
    db.get(Organization, membership.organization_id, with_for_update=True)
    check_grant(principal, Role(membership.role))
    if membership.role == Role.OWNER and owner_count(db, membership.organization_id) <= 1:
        raise ConflictError(
            "An organization always keeps at least one owner.", code="last_owner", param="role"
        )


def change_role(db: Session, principal: Principal, member_id: str, role: Role) -> Membership:
    membership = get_for_organization(
        db, Membership, member_id, principal.organization_id, what="member", for_update=True
    )
    check_grant(principal, role)
    _guard_member_change(db, principal, membership)
    if membership.user_id == principal.actor_id:
        raise PermissionDeniedError("Nobody changes their own role.", param="role")
    if role == membership.role:
        return membership
    previous = membership.role
    membership.role = str(role)
    # A privilege change ends the member's sessions in this organization: they sign in anew.
    auth_sessions.end_for_user(db, membership.user_id, organization_id=membership.organization_id)
    audit.record(
        db,
        principal,
        "member.role_changed",
        target=("member", membership.id),
        changes={"from": previous, "to": str(role)},
    )
    return membership


def remove_member(db: Session, principal: Principal, member_id: str) -> Membership:
    membership = get_for_organization(
        db, Membership, member_id, principal.organization_id, what="member", for_update=True
    )
    _guard_member_change(db, principal, membership)
    auth_sessions.end_for_user(db, membership.user_id, organization_id=membership.organization_id)
    db.delete(membership)
    audit.record(
        db,
        principal,
        "member.removed",
        target=("member", membership.id),
        changes={"role": membership.role},
    )
    return membership


def end_member_sessions(db: Session, principal: Principal, member_id: str) -> int:
    membership = get_for_organization(
        db, Membership, member_id, principal.organization_id, what="member"
    )
    ended = auth_sessions.end_for_user(
        db, membership.user_id, organization_id=membership.organization_id
    )
    audit.record(
        db,
        principal,
        "member.sessions_ended",
        target=("member", membership.id),
        changes={"ended": ended},
    )
    return ended
