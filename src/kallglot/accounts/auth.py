"""Signing in: password (argon2id), then the second factor when the account has one.

Failed attempts are counted in their own transaction (the request's transaction
rolls back with the error), throttled per account and per IP, and audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kallglot import audit
from kallglot.accounts import mfa, passkeys, passwords, throttle
from kallglot.accounts import sessions as auth_sessions
from kallglot.accounts.models import AuthSession, LoginChallenge, Membership, Organization, User
from kallglot.accounts.organizations import find_user_by_email
from kallglot.accounts.principal import Principal
from kallglot.accounts.tokens import digest, new_secret
from kallglot.audit import AuditContext, SystemActor
from kallglot.core.clock import utcnow
from kallglot.core.errors import AuthenticationError
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings
from kallglot.db.engine import transaction

CHALLENGE_LIFETIME = timedelta(minutes=5)


@dataclass(frozen=True)
class LoginOutcome:
    user_id: str
    organization_id: str
    session: auth_sessions.IssuedSession | None = None
    challenge_token: str | None = None
    mfa_enrollment_required: bool = False
    mfa_methods: tuple[str, ...] = ()
    webauthn_options: dict[str, Any] | None = None


def _membership(db: Session, user_id: str, organization_id: str | None) -> Membership | None:
    statement = select(Membership).where(Membership.user_id == user_id)
    if organization_id is not None:
        statement = statement.where(Membership.organization_id == organization_id)
    return db.scalars(statement.order_by(Membership.id).limit(1)).first()


def _actor(user: User | None, organization_id: str | None) -> SystemActor:
    if user is None:
        return SystemActor(organization_id=organization_id, actor_type="anonymous")
    return SystemActor(organization_id=organization_id, actor_type="user", actor_id=user.id)


def _end_previous(db: Session, settings: Settings, previous_token: str | None) -> None:
    """Rotation: whatever session the browser had before signing in is over."""
    if previous_token:
        previous = auth_sessions.find_active(db, settings, previous_token)
        if previous is not None:
            previous.ended_at = utcnow()


def login(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    email: str,
    password: str,
    organization_id: str | None,
    context: AuditContext,
    previous_token: str | None = None,
) -> LoginOutcome:
    keys = [throttle.account_key("login", email), throttle.ip_key("login", context.ip)]
    failed_user_id: str | None = None
    failed_org_id: str | None = None
    with transaction(sessions) as db:
        throttle.check(db, keys)
        user = find_user_by_email(db, email)
        if user is None:
            passwords.burn_verification(settings, password)
        elif passwords.verify_password(settings, user.password_hash, password) and user.is_active:
            membership = _membership(db, user.id, organization_id)
            if membership is not None:
                return _password_accepted(
                    db, settings, user, password, membership, context, previous_token
                )
        if user is not None:
            failed_user_id = user.id
            any_membership = _membership(db, user.id, None)
            failed_org_id = any_membership.organization_id if any_membership else None
    with transaction(sessions) as db:
        throttle.fail(db, keys[0], throttle.ACCOUNT_POLICY)
        throttle.fail(db, keys[1], throttle.IP_POLICY)
        failed_user = db.get(User, failed_user_id) if failed_user_id else None
        audit.record(
            db,
            _actor(failed_user, failed_org_id),
            "auth.login",
            target=("user", failed_user_id) if failed_user_id else None,
            result="failure",
            changes={"method": "password", "reason": "invalid_credentials"},
            context=context,
        )
    raise AuthenticationError("Incorrect email or password.", code="invalid_credentials")


def _password_accepted(
    db: Session,
    settings: Settings,
    user: User,
    password: str,
    membership: Membership,
    context: AuditContext,
    previous_token: str | None,
) -> LoginOutcome:
    if passwords.needs_rehash(settings, user.password_hash):
        # The hashing parameters changed since this hash was made: upgrade it now.
        user.password_hash = passwords.hash_password(settings, password)
    throttle.clear(db, throttle.account_key("login", user.email))
    _end_previous(db, settings, previous_token)
    if user.mfa_enabled:
        token = new_secret()
        passkey = passkeys.authentication_options(db, settings, user.id)
        db.add(
            LoginChallenge(
                id=new_id("lch"),
                token_hash=digest(token),
                user_id=user.id,
                organization_id=membership.organization_id,
                expires_at=utcnow() + CHALLENGE_LIFETIME,
                webauthn_challenge=passkey[1] if passkey else None,
            )
        )
        methods = tuple(
            method
            for method, available in (
                ("totp", user.totp_secret is not None),
                ("webauthn", passkey is not None),
                ("recovery_code", True),
            )
            if available
        )
        return LoginOutcome(
            user.id,
            membership.organization_id,
            challenge_token=token,
            mfa_methods=methods,
            webauthn_options=passkey[0] if passkey else None,
        )
    return _signed_in(db, settings, user, membership.organization_id, context, "password", False)


def _signed_in(
    db: Session,
    settings: Settings,
    user: User,
    organization_id: str,
    context: AuditContext,
    method: str,
    mfa_verified: bool,
) -> LoginOutcome:
    issued = auth_sessions.start(
        db,
        settings,
        user_id=user.id,
        organization_id=organization_id,
        mfa_verified=mfa_verified,
        context=context,
    )
    audit.record(
        db,
        _actor(user, organization_id),
        "auth.login",
        target=("user", user.id),
        changes={"method": method, "session": issued.session.id},
        context=context,
    )
    organization = db.get(Organization, organization_id)
    enrolment = bool(organization and organization.require_mfa and not user.mfa_enabled)
    return LoginOutcome(user.id, organization_id, session=issued, mfa_enrollment_required=enrolment)


def verify_second_factor(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    challenge_token: str,
    code: str | None,
    recovery_code: str | None,
    context: AuditContext,
    webauthn_assertion: dict[str, Any] | None = None,
) -> LoginOutcome:
    """Complete a login with a TOTP code, a WebAuthn assertion or a recovery code."""
    ip_key = throttle.ip_key("mfa", context.ip)
    with transaction(sessions) as db:
        throttle.check(db, [ip_key])
        challenge = db.scalar(
            select(LoginChallenge).where(LoginChallenge.token_hash == digest(challenge_token))
        )
        now = utcnow()
        if challenge is None or challenge.used_at is not None or challenge.expires_at <= now:
            challenge = None
        else:
            account_key = f"mfa:account:{challenge.user_id}"
            throttle.check(db, [account_key])
            user = db.get(User, challenge.user_id, with_for_update=True, populate_existing=True)
            assert user is not None
            if code:
                accepted, method = mfa.verify_totp(user, code), "totp"
            elif webauthn_assertion is not None and challenge.webauthn_challenge:
                accepted = passkeys.authenticate(
                    db, settings, user.id, challenge.webauthn_challenge, webauthn_assertion
                )
                method = "webauthn"
            elif recovery_code:
                accepted, method = mfa.use_recovery_code(db, user, recovery_code), "recovery_code"
            else:
                accepted, method = False, "none"
            if accepted:
                challenge.used_at = now
                throttle.clear(db, account_key)
                return _signed_in(
                    db, settings, user, challenge.organization_id, context, method, True
                )
            failed = (challenge.user_id, challenge.organization_id, account_key)
    with transaction(sessions) as db:
        throttle.fail(db, ip_key, throttle.IP_POLICY)
        if challenge is None:
            raise_later = AuthenticationError(
                "The sign-in attempt expired; enter your password again.",
                code="invalid_challenge",
            )
        else:
            user_id, organization_id, account_key = failed
            throttle.fail(db, account_key, throttle.ACCOUNT_POLICY)
            audit.record(
                db,
                SystemActor(organization_id=organization_id, actor_type="user", actor_id=user_id),
                "auth.mfa_verified",
                target=("user", user_id),
                result="failure",
                context=context,
            )
            raise_later = AuthenticationError(
                "The code is not valid.", code="invalid_mfa_code", param="code"
            )
    raise raise_later


def logout(db: Session, principal: Principal) -> None:
    if principal.auth_session_id is None:
        return
    auth_session = db.get(AuthSession, principal.auth_session_id)
    if auth_session is not None and auth_session.ended_at is None:
        auth_session.ended_at = utcnow()
        audit.record(db, principal, "auth.logout", target=("session", auth_session.id))
