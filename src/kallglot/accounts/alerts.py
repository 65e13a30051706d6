"""Security alerts (privacy policy: "to send security alerts"): a mail to the person concerned
when something changes the safety of their account, and to the organization's owners when
someone gains wide powers or personal data leaves.

Mails go through the outbox (:mod:`kallglot.mail`) and each is audited
(``security_alert.sent``). A mail names what happened, when and from which network; it never
carries a secret, a token or a link that acts by itself.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from kallglot import audit, mail
from kallglot.accounts.models import AuthSession, Membership, User
from kallglot.accounts.permissions import Role
from kallglot.audit import AuditContext, SystemActor
from kallglot.core.clock import utcnow
from kallglot.core.logging import truncate_ip
from kallglot.core.settings import Settings


class Alert(StrEnum):
    NEW_DEVICE_SIGN_IN = "new_device_sign_in"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an alert kind, not a password
    MFA_ADDED = "mfa_added"
    MFA_REMOVED = "mfa_removed"
    PASSKEY_ADDED = "passkey_added"
    API_KEY_CREATED = "api_key_created"
    ROLE_CHANGED = "role_changed"
    # To the owners:
    POWERFUL_MEMBER = "powerful_member"
    PERSONAL_DATA_EXPORTED = "personal_data_exported"


_SUBJECTS = {
    Alert.NEW_DEVICE_SIGN_IN: (
        "New sign-in to your Kallglot account",
        "You signed in from a browser or device not seen on your account before.",
    ),
    Alert.PASSWORD_CHANGED: ("Your Kallglot password was changed", "Your password was changed."),
    Alert.MFA_ADDED: (
        "Two-factor authentication turned on",
        "An authenticator app was added to your account.",
    ),
    Alert.MFA_REMOVED: (
        "Two-factor authentication turned off",
        "Two-factor authentication was turned off on your account.",
    ),
    Alert.PASSKEY_ADDED: (
        "A security key was added",
        "A security key (passkey) was added to your account.",
    ),
    Alert.API_KEY_CREATED: ("An API key was created", "An API key was created under your account."),
    Alert.ROLE_CHANGED: ("Your role changed", "Your role in the organization changed."),
    Alert.POWERFUL_MEMBER: (
        "A member gained wide access",
        "A member of your organization now holds the owner or compliance role.",
    ),
    Alert.PERSONAL_DATA_EXPORTED: (
        "Personal data was exported",
        "An export of personal data was downloaded from your organization.",
    ),
}


def _body(settings: Settings, alert: Alert, detail: str | None, context: AuditContext) -> str:
    _subject, sentence = _SUBJECTS[alert]
    lines = [sentence]
    if detail:
        lines.append(detail)
    lines.append(f"When: {utcnow():%Y-%m-%d %H:%M} UTC")
    network = truncate_ip(context.ip)
    if network:
        lines.append(f"From the network: {network}")
    lines.append(
        "\nIf this was you, there is nothing to do. If not, sign in at "
        f"{settings.public_base_url}/app/login, change your password and review your "
        "sessions and keys, or tell your organization's owner."
    )
    return "\n".join(lines) + "\n"


def _send(
    db: Session,
    settings: Settings,
    user: User,
    alert: Alert,
    organization_id: str | None,
    detail: str | None,
    context: AuditContext,
) -> None:
    mail.send(
        db,
        settings,
        mail.Mail(
            to=user.email, subject=_SUBJECTS[alert][0], body=_body(settings, alert, detail, context)
        ),
    )
    audit.record(
        db,
        SystemActor(organization_id=organization_id),
        "security_alert.sent",
        target=("user", user.id),
        changes={"alert": str(alert)},
        context=context,
        organization_id=organization_id,
    )


def notify_user(
    db: Session,
    settings: Settings,
    user_id: str,
    alert: Alert,
    *,
    context: AuditContext,
    organization_id: str | None = None,
    detail: str | None = None,
) -> None:
    user = db.get(User, user_id)
    if user is not None and user.is_active:
        _send(db, settings, user, alert, organization_id, detail, context)


def notify_owners(
    db: Session,
    settings: Settings,
    organization_id: str,
    alert: Alert,
    *,
    context: AuditContext,
    detail: str | None = None,
) -> None:
    owners = db.scalars(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == organization_id, Membership.role == Role.OWNER)
    ).all()
    for owner in owners:
        if owner.is_active:
            _send(db, settings, owner, alert, organization_id, detail, context)


def is_new_device(db: Session, user_id: str, session_id: str, user_agent: str | None) -> bool:
    """Whether this sign-in's browser was never seen on the account (the first sign-in ever
    is not news to anyone)."""
    earlier = db.scalars(
        select(AuthSession.user_agent).where(
            AuthSession.user_id == user_id, AuthSession.id != session_id
        )
    ).all()
    return bool(earlier) and user_agent not in earlier


def powerful(role: Role | str) -> bool:
    return str(role) in (Role.OWNER, Role.COMPLIANCE)
