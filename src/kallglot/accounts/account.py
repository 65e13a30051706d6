"""A user's own account: password change and reset, TOTP, recovery codes, sessions.

Changing the password or the second factor rotates the current session (a new
cookie) and can end every other session; a reset ends all of them. A reset never
bypasses MFA: an account with TOTP must also give a code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from kallglot import audit, mail
from kallglot.accounts import mfa, passkeys, passwords, throttle
from kallglot.accounts import sessions as auth_sessions
from kallglot.accounts.isolation import is_object_id
from kallglot.accounts.models import (
    AuthSession,
    Organization,
    PasswordResetToken,
    RecoveryCode,
    User,
    WebAuthnCredential,
)
from kallglot.accounts.organizations import find_user_by_email
from kallglot.accounts.principal import Principal
from kallglot.accounts.tokens import digest
from kallglot.audit import AuditContext, SystemActor
from kallglot.core.clock import utcnow
from kallglot.core.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
)
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings
from kallglot.db.engine import transaction

RESET_LIFETIME = timedelta(minutes=30)


@dataclass(frozen=True)
class Rotated:
    """The outcome of a credential change: the new session and how many others remain."""

    session: auth_sessions.IssuedSession | None
    other_sessions: int


def _user(db: Session, principal: Principal) -> User:
    user = db.get(User, principal.actor_id, with_for_update=True, populate_existing=True)
    if user is None or not principal.is_user:
        raise AuthenticationError("Sign in as a user for this.", code="user_required")
    return user


def _current_session(db: Session, principal: Principal) -> AuthSession | None:
    if principal.auth_session_id is None:
        return None
    return db.get(AuthSession, principal.auth_session_id)


def _rotate(
    db: Session,
    settings: Settings,
    principal: Principal,
    user: User,
    *,
    end_others: bool,
    mfa_verified: bool | None = None,
) -> Rotated:
    current = _current_session(db, principal)
    issued = (
        auth_sessions.rotate(db, settings, current, mfa_verified=mfa_verified)
        if current is not None
        else None
    )
    keep = issued.session.id if issued else None
    if end_others:
        auth_sessions.end_for_user(db, user.id, except_session_id=keep)
    others = [s for s in auth_sessions.list_live(db, settings, user.id) if s.id != keep]
    return Rotated(issued, len(others))


def _check_throttle(db: Session, user_id: str) -> str:
    key = f"mfa:account:{user_id}"
    throttle.check(db, [key])
    return key


def _refuse_code(
    sessions: sessionmaker[Session], key: str, principal: Principal, action: str
) -> AuthenticationError:
    with transaction(sessions) as db:
        throttle.fail(db, key, throttle.ACCOUNT_POLICY)
        audit.record(db, principal, action, target=("user", principal.actor_id), result="failure")
    return AuthenticationError("The code is not valid.", code="invalid_mfa_code", param="code")


# --- password ----------------------------------------------------------------------------------


def change_password(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    *,
    current_password: str,
    new_password: str,
    end_other_sessions: bool,
) -> Rotated:
    key = throttle.account_key("password", principal.actor_id)
    with transaction(sessions) as db:
        throttle.check(db, [key])
        user = _user(db, principal)
        if passwords.verify_password(settings, user.password_hash, current_password):
            passwords.check_password(
                new_password,
                email=user.email,
                name=user.name,
                mfa_enabled=user.mfa_enabled,
                param="new_password",
            )
            user.password_hash = passwords.hash_password(settings, new_password)
            user.password_changed_at = utcnow()
            throttle.clear(db, key)
            rotated = _rotate(db, settings, principal, user, end_others=end_other_sessions)
            audit.record(
                db,
                principal,
                "user.password_changed",
                target=("user", user.id),
                changes={"ended_other_sessions": end_other_sessions},
            )
            return rotated
    with transaction(sessions) as db:
        throttle.fail(db, key, throttle.ACCOUNT_POLICY)
        audit.record(
            db,
            principal,
            "user.password_changed",
            target=("user", principal.actor_id),
            result="failure",
        )
    raise AuthenticationError(
        "The current password is not correct.", code="invalid_credentials", param="current_password"
    )


def request_password_reset(
    sessions: sessionmaker[Session], settings: Settings, email: str, context: AuditContext
) -> None:
    """Mail a single-use reset link if the account exists; the answer is the same either way."""
    keys = [throttle.account_key("reset", email), throttle.ip_key("reset", context.ip)]
    with transaction(sessions) as db:
        throttle.check(db, keys)
        throttle.fail(db, keys[0], throttle.ACCOUNT_POLICY)  # every request counts
        throttle.fail(db, keys[1], throttle.IP_POLICY)
    with transaction(sessions) as db:
        user = find_user_by_email(db, email)
        if user is None or not user.is_active:
            return
        # The link's token is computed, never stored: the outbox keeps only where it goes.
        reset_id = new_id("pwr")
        secret_ref = f"password_reset:{reset_id}"
        token = mail.mailed_secret(db, secret_ref)
        db.add(
            PasswordResetToken(
                id=reset_id,
                user_id=user.id,
                token_hash=digest(token),
                expires_at=utcnow() + RESET_LIFETIME,
            )
        )
        link = f"{settings.public_base_url}/reset-password#token={mail.SECRET}"
        mail.send(
            db,
            settings,
            mail.Mail(
                to=user.email,
                subject="Reset your Kallglot password",
                body=(
                    "Someone asked to reset the password of your Kallglot account.\n\n"
                    f"To choose a new password, open this link within 30 minutes:\n{link}\n\n"
                    "If that was not you, ignore this message; your password stays as it is.\n"
                ),
                secret_ref=secret_ref,
            ),
        )
        audit.record(
            db,
            SystemActor(actor_type="user", actor_id=user.id),
            "user.password_reset_requested",
            target=("user", user.id),
            context=context,
        )


def confirm_password_reset(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    token: str,
    new_password: str,
    code: str | None,
    recovery_code: str | None,
    context: AuditContext,
) -> None:
    ip_key = throttle.ip_key("reset", context.ip)
    failure: Exception
    with transaction(sessions) as db:
        throttle.check(db, [ip_key])
        reset = db.scalar(
            select(PasswordResetToken)
            .where(PasswordResetToken.token_hash == digest(token))
            .with_for_update()
        )
        now = utcnow()
        if reset is None or reset.used_at is not None or reset.expires_at <= now:
            failure = InvalidRequestError(
                "This reset link is not valid any more; ask for a new one.",
                code="reset_token_invalid",
                param="token",
            )
            user = None
        else:
            account_key = _check_throttle(db, reset.user_id)
            user = db.get(User, reset.user_id, with_for_update=True, populate_existing=True)
            assert user is not None
            # The rules first, so that a refused password never reveals whether the code was right.
            passwords.check_password(
                new_password,
                email=user.email,
                name=user.name,
                mfa_enabled=user.mfa_enabled,
                param="new_password",
            )
            second_factor = True
            if user.mfa_enabled:
                if code:
                    second_factor = mfa.verify_totp(user, code)
                elif recovery_code:
                    second_factor = mfa.use_recovery_code(db, user, recovery_code)
                else:
                    second_factor = False
            if second_factor:
                user.password_hash = passwords.hash_password(settings, new_password)
                user.password_changed_at = now
                db.execute(
                    update(PasswordResetToken)
                    .where(
                        PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None)
                    )
                    .values(used_at=now)
                )
                ended = auth_sessions.end_for_user(db, user.id)
                throttle.clear(db, account_key)
                throttle.clear(db, throttle.account_key("login", user.email))
                audit.record(
                    db,
                    SystemActor(actor_type="user", actor_id=user.id),
                    "user.password_reset",
                    target=("user", user.id),
                    changes={"sessions_ended": ended},
                    context=context,
                )
                return
            failure = AuthenticationError(
                "This account has two-factor authentication: give a valid code as well.",
                code="mfa_required" if not (code or recovery_code) else "invalid_mfa_code",
                param="code",
            )
    with transaction(sessions) as db:
        throttle.fail(db, ip_key, throttle.IP_POLICY)
        if user is not None:
            throttle.fail(db, f"mfa:account:{user.id}", throttle.ACCOUNT_POLICY)
    raise failure


# --- second factors: TOTP, WebAuthn, recovery codes ------------------------------------------


def _first_factor_added(db: Session, user: User) -> list[str]:
    """Mark MFA on; the first factor also brings the recovery codes (returned once)."""
    if user.mfa_enabled_at is not None:
        return []
    user.mfa_enabled_at = utcnow()
    return mfa.new_recovery_codes(db, user)


def _factor_removed(db: Session, user: User) -> None:
    """After removing a factor: with none left, MFA is off and the recovery codes go."""
    if user.totp_secret is None and not passkeys.credentials_of(db, user.id):
        user.mfa_enabled_at = None
        db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def _refuse_if_required(db: Session, principal: Principal) -> None:
    organization = db.get(Organization, principal.organization_id)
    if organization is not None and organization.require_mfa:
        raise ConflictError(
            "Your organization requires two-factor authentication.",
            code="mfa_required_by_organization",
        )


@dataclass(frozen=True)
class TotpSetup:
    secret: str
    uri: str


def start_totp(db: Session, principal: Principal) -> TotpSetup:
    user = _user(db, principal)
    if user.totp_secret is not None:
        raise ConflictError("TOTP is already on.", code="mfa_already_enabled")
    user.totp_pending_secret = mfa.new_totp_secret()
    return TotpSetup(
        user.totp_pending_secret, mfa.provisioning_uri(user.totp_pending_secret, user.email)
    )


@dataclass(frozen=True)
class TotpEnabled:
    rotated: Rotated
    recovery_codes: list[str]


def confirm_totp(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    *,
    code: str,
    end_other_sessions: bool,
) -> TotpEnabled:
    with transaction(sessions) as db:
        key = _check_throttle(db, principal.actor_id)
        user = _user(db, principal)
        if user.mfa_enabled:
            raise ConflictError(
                "Two-factor authentication is already on.", code="mfa_already_enabled"
            )
        if user.totp_pending_secret is None:
            raise InvalidRequestError("Start the set-up first.", code="mfa_setup_not_started")
        if mfa.verify_totp(user, code, secret=user.totp_pending_secret):
            user.totp_secret, user.totp_pending_secret = user.totp_pending_secret, None
            codes = _first_factor_added(db, user)
            throttle.clear(db, key)
            rotated = _rotate(
                db, settings, principal, user, end_others=end_other_sessions, mfa_verified=True
            )
            audit.record(
                db, principal, "mfa.enabled", target=("user", user.id), changes={"method": "totp"}
            )
            return TotpEnabled(rotated, codes)
    raise _refuse_code(sessions, key, principal, "mfa.enabled")


def disable_totp(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    *,
    password: str,
    code: str,
    end_other_sessions: bool,
) -> Rotated:
    with transaction(sessions) as db:
        key = _check_throttle(db, principal.actor_id)
        user = _user(db, principal)
        if user.totp_secret is None:
            raise ConflictError("TOTP is not on.", code="mfa_not_enabled")
        if not passkeys.credentials_of(db, user.id):
            _refuse_if_required(db, principal)
        if passwords.verify_password(settings, user.password_hash, password) and mfa.verify_totp(
            user, code
        ):
            user.totp_secret = None
            _factor_removed(db, user)
            throttle.clear(db, key)
            rotated = _rotate(
                db, settings, principal, user, end_others=end_other_sessions, mfa_verified=False
            )
            audit.record(
                db, principal, "mfa.disabled", target=("user", user.id), changes={"method": "totp"}
            )
            return rotated
    raise _refuse_code(sessions, key, principal, "mfa.disabled")


def regenerate_recovery_codes(
    sessions: sessionmaker[Session], principal: Principal, *, code: str
) -> list[str]:
    with transaction(sessions) as db:
        key = _check_throttle(db, principal.actor_id)
        user = _user(db, principal)
        if user.totp_secret is None:
            raise ConflictError("TOTP is not on.", code="mfa_not_enabled")
        if mfa.verify_totp(user, code):
            codes = mfa.new_recovery_codes(db, user)
            audit.record(db, principal, "mfa.recovery_codes_regenerated", target=("user", user.id))
            return codes
    raise _refuse_code(sessions, key, principal, "mfa.recovery_codes_regenerated")


# --- sessions ----------------------------------------------------------------------------------


def end_own_session(db: Session, principal: Principal, session_id: str) -> AuthSession:
    auth_session = db.get(AuthSession, session_id) if is_object_id(session_id) else None
    if auth_session is None or auth_session.user_id != principal.actor_id:
        raise NotFoundError("No such session.", param="session_id")
    if auth_session.ended_at is None:
        auth_session.ended_at = utcnow()
        audit.record(db, principal, "session.ended", target=("session", auth_session.id))
    return auth_session


def webauthn_options(db: Session, settings: Settings, principal: Principal) -> dict[str, Any]:
    return passkeys.registration_options(db, settings, _user(db, principal))


@dataclass(frozen=True)
class PasskeyAdded:
    credential: WebAuthnCredential
    rotated: Rotated
    recovery_codes: list[str]


def add_webauthn(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    *,
    credential: dict[str, Any],
    name: str,
    end_other_sessions: bool,
) -> PasskeyAdded:
    with transaction(sessions) as db:
        user = _user(db, principal)
        record = passkeys.register(db, settings, user, credential, name)
        if record is not None:
            codes = _first_factor_added(db, user)
            rotated = _rotate(
                db, settings, principal, user, end_others=end_other_sessions, mfa_verified=True
            )
            audit.record(
                db,
                principal,
                "mfa.enabled",
                target=("webauthn_credential", record.id),
                changes={"method": "webauthn", "name": name},
            )
            return PasskeyAdded(record, rotated, codes)
        user.webauthn_challenge = user.webauthn_challenge_expires_at = None
    with transaction(sessions) as db:
        audit.record(
            db,
            principal,
            "mfa.enabled",
            target=("user", principal.actor_id),
            result="failure",
            changes={"method": "webauthn"},
        )
    raise InvalidRequestError(
        "The security key's answer could not be verified; start again.",
        code="webauthn_verification_failed",
        param="credential",
    )


def remove_webauthn(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    credential_id: str,
    *,
    password: str,
) -> None:
    key = throttle.account_key("password", principal.actor_id)
    with transaction(sessions) as db:
        throttle.check(db, [key])
        user = _user(db, principal)
        record = db.get(WebAuthnCredential, credential_id) if is_object_id(credential_id) else None
        if record is None or record.user_id != user.id:
            raise NotFoundError("No such security key.", param="credential_id")
        if user.totp_secret is None and len(passkeys.credentials_of(db, user.id)) == 1:
            _refuse_if_required(db, principal)
        if passwords.verify_password(settings, user.password_hash, password):
            db.delete(record)
            db.flush()
            _factor_removed(db, user)
            audit.record(
                db,
                principal,
                "mfa.disabled",
                target=("webauthn_credential", record.id),
                changes={"method": "webauthn"},
            )
            return
    with transaction(sessions) as db:
        throttle.fail(db, key, throttle.ACCOUNT_POLICY)
    raise AuthenticationError(
        "The password is not correct.", code="invalid_credentials", param="password"
    )
