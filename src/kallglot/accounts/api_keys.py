"""API keys: ``sk_live_``/``sk_test_`` + 256 random bits, shown once, stored hashed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kallglot import audit
from kallglot.accounts.isolation import get_for_organization
from kallglot.accounts.models import ApiKey
from kallglot.accounts.permissions import API_KEY_PERMISSIONS, Permission
from kallglot.accounts.principal import Principal
from kallglot.accounts.tokens import digest, new_secret
from kallglot.core.clock import utcnow
from kallglot.core.errors import AuthenticationError, PermissionDeniedError, ValidationFailedError
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings

LIVE_PREFIX = "sk_live_"
TEST_PREFIX = "sk_test_"
# The prefix, then 43 URL-safe base64 characters (256 bits).
KEY_PATTERN = re.compile(r"^sk_(live|test)_[A-Za-z0-9_-]{43}$")
TOUCH_INTERVAL = timedelta(seconds=60)


def prefix_for(settings: Settings) -> str:
    return LIVE_PREFIX if settings.env == "production" else TEST_PREFIX


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str


def create(
    db: Session,
    settings: Settings,
    principal: Principal,
    *,
    name: str,
    scopes: list[Permission],
    expires_at: datetime | None,
) -> IssuedKey:
    """Mint a key carrying ``scopes``, which must be a subset of what the creator holds."""
    requested = frozenset(scopes)
    if not requested:
        raise ValidationFailedError("Give the key at least one scope.", param="scopes")
    not_for_keys = sorted(requested - API_KEY_PERMISSIONS)
    if not_for_keys:
        raise ValidationFailedError(
            f"API keys cannot carry {', '.join(not_for_keys)}.",
            code="scope_not_allowed",
            param="scopes",
        )
    beyond = sorted(requested - principal.permissions)
    if beyond:
        raise PermissionDeniedError(
            f"You cannot grant permissions you do not hold: {', '.join(beyond)}.",
            param="scopes",
        )
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailedError("The expiry must be in the future.", param="expires_at")
    return issue(
        db,
        settings,
        organization_id=principal.organization_id,
        name=name,
        scopes=requested,
        expires_at=expires_at,
        created_by=principal.actor_id,
        actor=principal,
    )


def issue(
    db: Session,
    settings: Settings,
    *,
    organization_id: str,
    name: str,
    scopes: frozenset[Permission],
    expires_at: datetime | None = None,
    created_by: str | None = None,
    actor: audit.log.Actor | None = None,
) -> IssuedKey:
    """Mint a key without the creator checks (the demo seed, tests, ``create``)."""
    prefix = prefix_for(settings)
    secret = new_secret(prefix)
    api_key = ApiKey(
        id=new_id("key"),
        organization_id=organization_id,
        name=name,
        key_hash=digest(secret),
        prefix=prefix,
        last_four=secret[-4:],
        scopes=sorted(str(scope) for scope in scopes),
        created_by=created_by,
        expires_at=expires_at,
    )
    db.add(api_key)
    db.flush()
    audit.record(
        db,
        actor,
        "api_key.created",
        organization_id=organization_id,
        target=("api_key", api_key.id),
        changes={"name": name, "scopes": api_key.scopes, "expires_at": expires_at},
    )
    return IssuedKey(api_key, secret)


def revoke(db: Session, principal: Principal, key_id: str) -> ApiKey:
    api_key = get_for_organization(db, ApiKey, key_id, principal.organization_id, what="API key")
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        audit.record(db, principal, "api_key.revoked", target=("api_key", api_key.id))
    return api_key


def authenticate(db: Session, settings: Settings, presented: str) -> ApiKey:
    """The live key for ``presented``, or 401 (malformed, unknown, revoked, expired)."""
    if not KEY_PATTERN.match(presented):
        raise AuthenticationError("The API key is malformed.", code="invalid_api_key")
    if not presented.startswith(prefix_for(settings)):
        raise AuthenticationError(
            "This API key belongs to the other environment (live/test).",
            code="invalid_api_key",
        )
    api_key = db.scalar(select(ApiKey).where(ApiKey.key_hash == digest(presented)))
    if api_key is None:
        raise AuthenticationError("The API key is not valid.", code="invalid_api_key")
    now = utcnow()
    if api_key.revoked_at is not None:
        raise AuthenticationError("The API key was revoked.", code="revoked_api_key")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise AuthenticationError("The API key has expired.", code="expired_api_key")
    if api_key.last_used_at is None or now - api_key.last_used_at >= TOUCH_INTERVAL:
        api_key.last_used_at = now
    return api_key
