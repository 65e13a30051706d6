"""Browser sessions: opaque 256-bit cookie tokens with idle and absolute timeouts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kallglot.accounts.models import AuthSession
from kallglot.accounts.tokens import digest, new_secret
from kallglot.audit import AuditContext
from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings

SECURE_COOKIE = "__Host-kallglot_session"
PLAIN_COOKIE = "kallglot_session"
CSRF_COOKIE = "kallglot_csrf"
CSRF_HEADER = "X-CSRF-Token"
# last_seen_at is written at most this often, to spare a write on every request.
TOUCH_INTERVAL = timedelta(seconds=60)


def cookie_name(settings: Settings) -> str:
    return SECURE_COOKIE if settings.effective_session_cookie_secure else PLAIN_COOKIE


@dataclass(frozen=True)
class IssuedSession:
    """A new session and the token that only the client keeps."""

    session: AuthSession
    token: str


def start(
    db: Session,
    settings: Settings,
    *,
    user_id: str,
    organization_id: str,
    mfa_verified: bool,
    context: AuditContext,
) -> IssuedSession:
    now = utcnow()
    token = new_secret()
    auth_session = AuthSession(
        id=new_id("aus"),
        token_hash=digest(token),
        csrf_token=secrets.token_urlsafe(32),
        user_id=user_id,
        organization_id=organization_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_absolute_timeout_hours),
        ip=context.ip,
        user_agent=(context.user_agent or "")[:300] or None,
        mfa_verified=mfa_verified,
    )
    db.add(auth_session)
    db.flush()
    return IssuedSession(auth_session, token)


def find_active(db: Session, settings: Settings, token: str) -> AuthSession | None:
    """The live session for ``token``; an idle or expired one is ended on the way."""
    if not token or len(token) > 100:
        return None
    auth_session = db.scalar(select(AuthSession).where(AuthSession.token_hash == digest(token)))
    if auth_session is None or auth_session.ended_at is not None:
        return None
    now = utcnow()
    idle = timedelta(minutes=settings.session_idle_timeout_minutes)
    if now >= auth_session.expires_at or now - auth_session.last_seen_at >= idle:
        auth_session.ended_at = now
        return None
    if now - auth_session.last_seen_at >= TOUCH_INTERVAL:
        auth_session.last_seen_at = now
    return auth_session


def rotate(
    db: Session, settings: Settings, current: AuthSession, *, mfa_verified: bool | None = None
) -> IssuedSession:
    """End ``current`` and start a fresh one for the same user (after a privilege change)."""
    current.ended_at = utcnow()
    return start(
        db,
        settings,
        user_id=current.user_id,
        organization_id=current.organization_id,
        mfa_verified=current.mfa_verified if mfa_verified is None else mfa_verified,
        context=AuditContext(ip=current.ip, user_agent=current.user_agent),
    )


def end_for_user(
    db: Session,
    user_id: str,
    *,
    organization_id: str | None = None,
    except_session_id: str | None = None,
) -> int:
    """End a user's live sessions (in one organization, or everywhere); returns how many."""
    statement = (
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
    if organization_id is not None:
        statement = statement.where(AuthSession.organization_id == organization_id)
    if except_session_id is not None:
        statement = statement.where(AuthSession.id != except_session_id)
    result = db.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


def list_live(db: Session, settings: Settings, user_id: str) -> list[AuthSession]:
    now = utcnow()
    idle_since = now - timedelta(minutes=settings.session_idle_timeout_minutes)
    return list(
        db.scalars(
            select(AuthSession)
            .where(
                AuthSession.user_id == user_id,
                AuthSession.ended_at.is_(None),
                AuthSession.expires_at > now,
                AuthSession.last_seen_at > idle_since,
            )
            .order_by(AuthSession.id.desc())
        )
    )
