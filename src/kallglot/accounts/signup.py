"""Sign-up by verified email: the answer never says whether an address has an account.

``POST /v1/auth/signup`` checks the request (password rules included) and answers 202 the same
way for every address. A new address is mailed a link; nothing is created until the link's
token comes back (``POST /v1/auth/signup/verify``), so the organization exists only for whoever
reads that mailbox. An address that already has an account is mailed a notice instead (sign in,
or reset the password), which only its owner sees.

The token is the pending sign-up itself, sealed (AES-256-GCM) under a key derived from the
master key, with its expiry inside: no table holds half-created accounts, and the password
travels in it only as its argon2id hash.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from kallglot import audit, mail
from kallglot.accounts import passwords
from kallglot.accounts.organizations import (
    SignupResult,
    find_user_by_email,
    normalise_email,
    signup,
)
from kallglot.accounts.schemas import SignupRequest
from kallglot.audit import AuditContext, SystemActor
from kallglot.core.clock import utcnow
from kallglot.core.errors import InvalidRequestError, KallglotError
from kallglot.core.settings import Settings
from kallglot.crypto.envelope import context_bytes, open_envelope, parse, seal

VERIFICATION_LIFETIME = timedelta(hours=24)
_KEY_ID = "signup-v1"
_CONTEXT = context_bytes("signup", "verification")


def _key(settings: Settings) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"kallglot signup verification"
    ).derive(settings.master_key_bytes())


def _seal(settings: Settings, body: SignupRequest, now: datetime) -> str:
    pending = body.model_dump(mode="json", exclude={"password"})
    pending["email"] = normalise_email(body.email)
    pending["password_hash"] = passwords.hash_password(settings, body.password)
    pending["expires_at"] = (now + VERIFICATION_LIFETIME).timestamp()
    sealed = seal(_key(settings), _KEY_ID, json.dumps(pending), _CONTEXT)
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def _open(settings: Settings, token: str) -> dict[str, object]:
    invalid = InvalidRequestError(
        "This sign-up link is not valid any more; sign up again.",
        code="signup_token_invalid",
        param="token",
    )
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        pending = json.loads(open_envelope(_key(settings), parse(raw), _CONTEXT))
    except (ValueError, KallglotError):
        raise invalid from None
    if not isinstance(pending, dict) or float(pending["expires_at"]) <= utcnow().timestamp():
        raise invalid
    return pending


def request_signup(
    db: Session, settings: Settings, body: SignupRequest, context: AuditContext
) -> None:
    """Mail a verification link, or a notice if the address already has an account.

    Both ways check the password and hash it, so that neither the answer nor its time tells
    them apart.
    """
    passwords.check_password(body.password, email=body.email, name=body.name, mfa_enabled=False)
    token = _seal(settings, body, utcnow())
    existing = find_user_by_email(db, body.email)
    if existing is not None:
        mail.send(
            db,
            settings,
            mail.Mail(
                to=existing.email,
                subject="Someone tried to sign up with your address",
                body=(
                    "Someone tried to create a Kallglot organization with this email address, "
                    "which already has an account.\n\n"
                    f"If it was you, sign in at {settings.public_base_url}/app/login "
                    "(or reset your password there). If it was not, you need do nothing: "
                    "no account was created or changed.\n"
                ),
            ),
        )
        audit.record(
            db,
            SystemActor(actor_type="user", actor_id=existing.id),
            "user.signup_attempted",
            target=("user", existing.id),
            context=context,
        )
        return
    link = f"{settings.public_base_url}/app/verify-signup#token={token}"
    mail.send(
        db,
        settings,
        mail.Mail(
            to=normalise_email(body.email),
            subject="Confirm your Kallglot sign-up",
            body=(
                "To create your Kallglot organization, open this link within 24 hours:\n"
                f"{link}\n\n"
                "If you did not sign up, ignore this message; nothing is created.\n"
            ),
        ),
    )


def complete_signup(
    db: Session, settings: Settings, token: str, context: AuditContext
) -> SignupResult:
    """Create the organization and its owner from a verified token, and sign the owner in."""
    pending = _open(settings, token)
    password_hash = str(pending.pop("password_hash"))
    pending.pop("expires_at")
    # The fields were validated at sign-up; the password is only its hash now.
    body = SignupRequest.model_validate({**pending, "password": "-"})
    if find_user_by_email(db, body.email) is not None:
        raise InvalidRequestError(
            "This sign-up link was used already; sign in instead.",
            code="signup_token_invalid",
            param="token",
        )
    return signup(db, settings, body, context, password_hash=password_hash)
