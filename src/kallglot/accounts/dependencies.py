"""Authentication and the one-permission-per-route rule, as FastAPI dependencies.

Every route declares exactly one of:

- ``require(Permission.X)``: the caller must be authenticated (API key or session
  cookie) and hold ``X``; or
- ``PUBLIC``: no authentication (sign-up, login, probes).

``endpoints(app)`` lists every route with its declarations, so a test can walk every
route of the app and prove that none is undeclared.

Credentials, in order: ``Authorization: Bearer sk_…``, ``X-API-Key: sk_…``, the session
cookie. Cookie-authenticated requests that change state must echo the session's CSRF
token in ``X-CSRF-Token``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kallglot.accounts import api_keys
from kallglot.accounts import sessions as auth_sessions
from kallglot.accounts.models import AuthSession, Membership, Organization, User
from kallglot.accounts.permissions import Permission, Role, parse_permissions, permissions_for
from kallglot.accounts.principal import Principal
from kallglot.accounts.tokens import same
from kallglot.audit import AuditContext
from kallglot.core.errors import AuthenticationError, PermissionDeniedError
from kallglot.core.logging import request_id_var
from kallglot.core.settings import Settings
from kallglot.db.engine import transaction
from kallglot.http.deps import get_app_settings, get_session_factory

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PERMISSION_ATTRIBUTE = "__kallglot_permission__"
PUBLIC_ATTRIBUTE = "__kallglot_public__"
MAX_CREDENTIAL_LENGTH = 200


def request_context(request: Request) -> AuditContext:
    """IP, user agent and request id of the current request (for the audit log)."""
    return AuditContext(
        ip=request.client.host if request.client else None,
        user_agent=(request.headers.get("user-agent") or "")[:300] or None,
        request_id=request_id_var.get(),
    )


def _presented_api_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationError(
                "Use 'Authorization: Bearer <api key>'.", code="invalid_authorization_header"
            )
        return value.strip()
    api_key = request.headers.get("x-api-key")
    if api_key is not None:
        return api_key.strip()
    return None


def authenticate(
    request: Request,
    sessions: Annotated[sessionmaker[Session], Depends(get_session_factory)],
    settings: Annotated[Settings, Depends(get_app_settings)],
) -> Principal:
    """The caller, from an API key or the session cookie; 401 when there is none.

    Runs in its own short transaction, so that its bookkeeping (last use of a key, a
    session's last activity, ending an idle session) is kept whatever the route does,
    and no lock is held while the route runs.
    """
    context = request_context(request)
    presented = _presented_api_key(request)
    if presented is not None:
        if len(presented) > MAX_CREDENTIAL_LENGTH:
            raise AuthenticationError("The API key is malformed.", code="invalid_api_key")
        with transaction(sessions) as db:
            key = api_keys.authenticate(db, settings, presented)
            return Principal(
                organization_id=key.organization_id,
                actor_type="api_key",
                actor_id=key.id,
                role=None,
                permissions=parse_permissions(key.scopes),
                context=context,
            )
    token = request.cookies.get(auth_sessions.cookie_name(settings))
    if token is None:
        raise AuthenticationError(
            "Authenticate with an API key (Authorization: Bearer sk_…) or sign in."
        )
    with transaction(sessions) as db:
        auth_session = auth_sessions.find_active(db, settings, token)
        if auth_session is not None:
            if request.method not in SAFE_METHODS:
                _check_csrf(request, auth_session)
            return principal_for_session(db, auth_session, context)
    raise AuthenticationError("Your session has ended; sign in again.", code="session_expired")


def _check_csrf(request: Request, auth_session: AuthSession) -> None:
    sent = request.headers.get(auth_sessions.CSRF_HEADER.lower(), "")
    if not sent or not same(sent, auth_session.csrf_token):
        raise PermissionDeniedError(
            "Missing or wrong CSRF token (send the X-CSRF-Token header).",
            code="csrf_token_invalid",
        )


def principal_for_session(
    db: Session, auth_session: AuthSession, context: AuditContext
) -> Principal:
    membership = db.scalar(
        select(Membership).where(
            Membership.organization_id == auth_session.organization_id,
            Membership.user_id == auth_session.user_id,
        )
    )
    user = db.get(User, auth_session.user_id)
    organization = db.get(Organization, auth_session.organization_id)
    if membership is None or user is None or not user.is_active or organization is None:
        raise AuthenticationError("Your session has ended; sign in again.", code="session_expired")
    role = Role(membership.role)
    return Principal(
        organization_id=auth_session.organization_id,
        actor_type="user",
        actor_id=user.id,
        role=role,
        permissions=permissions_for(role),
        auth_session_id=auth_session.id,
        context=context,
        mfa_enrollment_required=organization.require_mfa and not user.mfa_enabled,
    )


def require(permission: Permission) -> Any:
    """Dependency marker: authenticate, then insist on ``permission`` (401/403 otherwise).

    Use as ``principal: Annotated[Principal, require(Permission.CALLS_READ)]`` or in
    ``dependencies=[require(...)]``.
    """

    def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.mfa_enrollment_required and permission is not Permission.ACCOUNT_MANAGE:
            raise PermissionDeniedError(
                "Your organization requires two-factor authentication; set it up first.",
                code="mfa_enrollment_required",
            )
        if permission not in principal.permissions:
            raise PermissionDeniedError(
                f"This needs the '{permission}' permission.", code="insufficient_permissions"
            )
        return principal

    setattr(check, PERMISSION_ATTRIBUTE, permission)
    check.__name__ = f"require_{permission.replace(':', '_')}"
    return Depends(check)


def _public() -> None:
    """No authentication on purpose."""


setattr(_public, PUBLIC_ATTRIBUTE, True)
PUBLIC: Any = Depends(_public)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


@dataclass(frozen=True)
class Endpoint:
    """One API route as served (router prefixes and included dependencies applied)."""

    path: str
    methods: frozenset[str]
    declarations: tuple[Permission | str, ...]

    @property
    def is_public(self) -> bool:
        return self.declarations == ("public",)

    @property
    def permission(self) -> Permission | None:
        """The one permission this route requires (None when public)."""
        if len(self.declarations) != 1:
            raise ValueError(f"{self.path} declares {self.declarations}; exactly one is needed")
        declared = self.declarations[0]
        return declared if isinstance(declared, Permission) else None


def declarations(dependant: Dependant) -> tuple[Permission | str, ...]:
    """The permissions a route requires, and ``"public"`` if it is marked public."""
    found: list[Permission | str] = []
    for call in _calls(dependant):
        if getattr(call, PUBLIC_ATTRIBUTE, False):
            found.append("public")
        permission = getattr(call, PERMISSION_ATTRIBUTE, None)
        if permission is not None:
            found.append(permission)
    return tuple(found)


def endpoints(app: FastAPI) -> list[Endpoint]:
    """Every API route of ``app``, however deeply its router was included.

    Framework routes without dependencies (``/openapi.json``, ``/docs``) are not API
    routes and are left out.
    """
    found = []
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        if not isinstance(dependant, Dependant) or context.path is None:
            continue
        found.append(
            Endpoint(
                path=context.path,
                methods=frozenset(context.methods or ()),
                declarations=declarations(dependant),
            )
        )
    return found


__all__ = [
    "PUBLIC",
    "Endpoint",
    "Principal",
    "authenticate",
    "declarations",
    "endpoints",
    "request_context",
    "require",
]
