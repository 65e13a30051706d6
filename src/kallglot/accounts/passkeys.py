"""WebAuthn (security keys, passkeys) as a second factor, with py_webauthn.

The relying party is the host of ``KALLGLOT_PUBLIC_BASE_URL`` and the expected origin
is that URL. Registration and sign-in challenges are single use and expire after
five minutes; the authenticator's signature counter is checked and stored.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import webauthn
from sqlalchemy import select
from sqlalchemy.orm import Session
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    UserVerificationRequirement,
)

from kallglot.accounts.models import User, WebAuthnCredential
from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings

CHALLENGE_LIFETIME = timedelta(minutes=5)
RP_NAME = "Kallglot"
_PARSE_ERRORS = (WebAuthnException, ValueError, KeyError, TypeError)


def rp_id(settings: Settings) -> str:
    return urlsplit(settings.public_base_url).hostname or "localhost"


def origin(settings: Settings) -> str:
    return settings.public_base_url


def credentials_of(db: Session, user_id: str) -> list[WebAuthnCredential]:
    return list(
        db.scalars(
            select(WebAuthnCredential)
            .where(WebAuthnCredential.user_id == user_id)
            .order_by(WebAuthnCredential.id)
        )
    )


def registration_options(db: Session, settings: Settings, user: User) -> dict[str, Any]:
    """Options for ``navigator.credentials.create``; the challenge is kept on the user."""
    options = webauthn.generate_registration_options(
        rp_id=rp_id(settings),
        rp_name=RP_NAME,
        user_id=user.id.encode(),
        user_name=user.email,
        user_display_name=user.name,
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(item.credential_id))
            for item in credentials_of(db, user.id)
        ],
        authenticator_selection=AuthenticatorSelectionCriteria(
            user_verification=UserVerificationRequirement.PREFERRED
        ),
    )
    user.webauthn_challenge = bytes_to_base64url(options.challenge)
    user.webauthn_challenge_expires_at = utcnow() + CHALLENGE_LIFETIME
    result: dict[str, Any] = json.loads(webauthn.options_to_json(options))
    return result


def register(
    db: Session, settings: Settings, user: User, credential: dict[str, Any], name: str
) -> WebAuthnCredential | None:
    """Verify the authenticator's attestation and keep its public key; None if it fails."""
    challenge = user.webauthn_challenge
    expires = user.webauthn_challenge_expires_at
    user.webauthn_challenge = user.webauthn_challenge_expires_at = None  # single use
    if challenge is None or expires is None or expires <= utcnow():
        return None
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=webauthn.base64url_to_bytes(challenge),
            expected_rp_id=rp_id(settings),
            expected_origin=origin(settings),
        )
    except _PARSE_ERRORS:
        return None
    credential_id = bytes_to_base64url(verified.credential_id)
    if db.scalar(
        select(WebAuthnCredential).where(WebAuthnCredential.credential_id == credential_id)
    ):
        return None
    record = WebAuthnCredential(
        id=new_id("wac"),
        user_id=user.id,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name,
    )
    db.add(record)
    db.flush()
    return record


def authentication_options(
    db: Session, settings: Settings, user_id: str
) -> tuple[dict[str, Any], str] | None:
    """Options for ``navigator.credentials.get`` and the challenge to keep, if the user has keys."""
    registered = credentials_of(db, user_id)
    if not registered:
        return None
    options = webauthn.generate_authentication_options(
        rp_id=rp_id(settings),
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(item.credential_id))
            for item in registered
        ],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    result: dict[str, Any] = json.loads(webauthn.options_to_json(options))
    return result, bytes_to_base64url(options.challenge)


def authenticate(
    db: Session, settings: Settings, user_id: str, challenge: str, assertion: dict[str, Any]
) -> bool:
    """Verify a sign-in assertion against the user's registered keys; bump the counter."""
    raw_id = assertion.get("id") if isinstance(assertion, dict) else None
    if not isinstance(raw_id, str) or len(raw_id) > 1400:
        return False
    record = db.scalar(
        select(WebAuthnCredential)
        .where(WebAuthnCredential.credential_id == raw_id, WebAuthnCredential.user_id == user_id)
        .with_for_update()
    )
    if record is None:
        return False
    try:
        verified = webauthn.verify_authentication_response(
            credential=assertion,
            expected_challenge=webauthn.base64url_to_bytes(challenge),
            expected_rp_id=rp_id(settings),
            expected_origin=origin(settings),
            credential_public_key=record.public_key,
            credential_current_sign_count=record.sign_count,
        )
    except _PARSE_ERRORS:
        return False
    record.sign_count = verified.new_sign_count
    record.last_used_at = utcnow()
    return True
