"""Who is calling, as far as the middleware needs to know before a route authenticates.

Idempotency keys and rate limits are scoped to the organization (as the public API
scopes them), and rate limits also to the API key; both run as ASGI middleware, ahead
of the route's own authentication. This module reads the presented credential (API key
or session cookie) with one query and no side effects: the route's
:func:`kallglot.accounts.dependencies.authenticate` still decides whether the request
may run. The answer is cached in the request scope, so the middlewares ask once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Scope

from kallglot.accounts import sessions as auth_sessions
from kallglot.accounts.models import ApiKey, AuthSession
from kallglot.accounts.tokens import digest
from kallglot.core.clock import utcnow
from kallglot.core.settings import Settings

_STATE_KEY = "kallglot_caller"
MAX_CREDENTIAL_LENGTH = 200


@dataclass(frozen=True)
class Caller:
    organization_id: str
    # "key:<api key id>" or "user:<user id>": what a per-credential budget counts.
    credential: str


def header(scope: Scope, name: bytes) -> str | None:
    for found, value in scope.get("headers", []):
        if found == name:
            return str(value.decode("latin-1"))
    return None


def presented_api_key(scope: Scope) -> str | None:
    authorization = header(scope, b"authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    api_key = header(scope, b"x-api-key")
    return api_key.strip() if api_key is not None else None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = header(scope, b"cookie")
    if raw is None:
        return None
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def identify(sessions: sessionmaker[Session], settings: Settings, scope: Scope) -> Caller | None:
    """The live credential's organization, or ``None`` (anonymous, unknown, revoked, expired)."""
    now = utcnow()
    presented = presented_api_key(scope)
    with sessions() as db:
        if presented is not None:
            if not presented or len(presented) > MAX_CREDENTIAL_LENGTH:
                return None
            key = db.scalar(select(ApiKey).where(ApiKey.key_hash == digest(presented)))
            if key is None or key.revoked_at is not None:
                return None
            if key.expires_at is not None and key.expires_at <= now:
                return None
            return Caller(key.organization_id, f"key:{key.id}")
        token = _cookie(scope, auth_sessions.cookie_name(settings))
        if not token or len(token) > MAX_CREDENTIAL_LENGTH:
            return None
        found = db.scalar(select(AuthSession).where(AuthSession.token_hash == digest(token)))
        idle = timedelta(minutes=settings.session_idle_timeout_minutes)
        if found is None or found.ended_at is not None or found.expires_at <= now:
            return None
        if now - found.last_seen_at >= idle:
            return None
        return Caller(found.organization_id, f"user:{found.user_id}")


async def caller_of(scope: Scope) -> Caller | None:
    """:func:`identify` for this request, computed once and kept in its scope."""
    state = scope.setdefault("state", {})
    if _STATE_KEY not in state:
        app_state = scope["app"].state
        state[_STATE_KEY] = await anyio.to_thread.run_sync(
            identify, app_state.sessions, app_state.settings, scope
        )
    caller: Caller | None = state[_STATE_KEY]
    return caller
