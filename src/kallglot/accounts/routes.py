"""HTTP routes of the identity domain (thin: the logic lives in the service modules)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kallglot.accounts import (
    account,
    alerts,
    api_keys,
    auth,
    invitations,
    organizations,
    passkeys,
    throttle,
)
from kallglot.accounts import sessions as auth_sessions
from kallglot.accounts import signup as signups
from kallglot.accounts.alerts import Alert
from kallglot.accounts.dependencies import PUBLIC, request_context, require
from kallglot.accounts.isolation import get_for_organization
from kallglot.accounts.models import ApiKey, Invitation, Membership, Organization, User
from kallglot.accounts.permissions import Permission, Role
from kallglot.accounts.principal import Principal
from kallglot.accounts.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    AuthSessionList,
    AuthSessionOut,
    CredentialChangeOut,
    EndedSessionsOut,
    InvitationAccept,
    InvitationAcceptedOut,
    InvitationCreate,
    InvitationOut,
    LoginOut,
    LoginRequest,
    MemberOut,
    MemberUpdate,
    MeOut,
    MfaVerifyRequest,
    OrganizationOut,
    OrganizationUpdate,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    RecoveryCodesOut,
    RecoveryCodesRequest,
    SignupOut,
    SignupRequest,
    SignupStarted,
    SignupVerify,
    TotpConfirm,
    TotpDisable,
    TotpEnabledOut,
    TotpSetupOut,
    UserOut,
    WebAuthnCredentialList,
    WebAuthnCredentialOut,
    WebAuthnOptionsOut,
    WebAuthnRegister,
    WebAuthnRegisteredOut,
    WebAuthnRemove,
)
from kallglot.audit import AuditContext
from kallglot.core.settings import Settings
from kallglot.db.engine import transaction
from kallglot.http.deps import AppSettings, DbSession, SessionFactory
from kallglot.http.pagination import Page, Pagination, paginate

router = APIRouter(prefix="/v1", tags=["identity"])

P = Permission
SIGNUP_POLICY = throttle.Policy(
    free_failures=10,
    base_delay=throttle.IP_POLICY.base_delay,
    max_delay=throttle.IP_POLICY.max_delay,
)


def set_session_cookies(
    response: Response, settings: Settings, issued: auth_sessions.IssuedSession
) -> None:
    secure = settings.effective_session_cookie_secure
    max_age = settings.session_absolute_timeout_hours * 3600
    response.set_cookie(
        auth_sessions.cookie_name(settings),
        issued.token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )
    # Readable by the web app's script, which echoes it in X-CSRF-Token.
    response.set_cookie(
        auth_sessions.CSRF_COOKIE,
        issued.session.csrf_token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=False,
        samesite="lax",
    )


def clear_session_cookies(response: Response, settings: Settings) -> None:
    secure = settings.effective_session_cookie_secure
    for name in (auth_sessions.cookie_name(settings), auth_sessions.CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=secure, samesite="lax")


def _user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        phone_number=user.phone_number,
        mfa_enabled=user.mfa_enabled,
        created_at=user.created_at,
    )


def _member_out(db: Session, membership: Membership) -> MemberOut:
    user = db.get(User, membership.user_id)
    assert user is not None
    return MemberOut(
        id=membership.id,
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=Role(membership.role),
        mfa_enabled=user.mfa_enabled,
        created_at=membership.created_at,
    )


def _login_out(response: Response, settings: Settings, outcome: auth.LoginOutcome) -> LoginOut:
    if outcome.session is None:
        return LoginOut(
            status="mfa_required",
            user_id=outcome.user_id,
            organization_id=outcome.organization_id,
            challenge_token=outcome.challenge_token,
            mfa_methods=list(outcome.mfa_methods),
            webauthn_options=outcome.webauthn_options,
        )
    set_session_cookies(response, settings, outcome.session)
    return LoginOut(
        status="signed_in",
        user_id=outcome.user_id,
        organization_id=outcome.organization_id,
        session_id=outcome.session.session.id,
        csrf_token=outcome.session.session.csrf_token,
        expires_at=outcome.session.session.expires_at,
        mfa_enrollment_required=outcome.mfa_enrollment_required,
    )


# --- signing up and in -------------------------------------------------------------------------


@router.post(
    "/auth/signup",
    status_code=202,
    dependencies=[PUBLIC],
    summary="Start a sign-up: a verification link is mailed (the answer is the same for every "
    "address)",
)
def signup(
    body: SignupRequest,
    request: Request,
    sessions: SessionFactory,
    settings: AppSettings,
) -> SignupStarted:
    context = request_context(request)
    key = throttle.ip_key("signup", context.ip)
    with transaction(sessions) as db:
        throttle.check(db, [key])
        throttle.fail(db, key, SIGNUP_POLICY)  # every sign-up counts against the address
    with transaction(sessions) as db:
        signups.request_signup(db, settings, body, context)
    return SignupStarted()


@router.post(
    "/auth/signup/verify",
    status_code=201,
    dependencies=[PUBLIC],
    summary="Finish a sign-up with the mailed token: the organization and its owner are "
    "created and signed in",
)
def verify_signup(
    body: SignupVerify,
    request: Request,
    response: Response,
    sessions: SessionFactory,
    settings: AppSettings,
) -> SignupOut:
    with transaction(sessions) as db:
        result = signups.complete_signup(db, settings, body.token, request_context(request))
        set_session_cookies(response, settings, result.session)
        return SignupOut(
            organization=OrganizationOut.model_validate(result.organization),
            user=_user_out(result.user),
            session_id=result.session.session.id,
            csrf_token=result.session.session.csrf_token,
            expires_at=result.session.session.expires_at,
        )


@router.post("/auth/login", dependencies=[PUBLIC], summary="Sign in with email and password")
def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    sessions: SessionFactory,
    settings: AppSettings,
) -> LoginOut:
    outcome = auth.login(
        sessions,
        settings,
        email=body.email,
        password=body.password,
        organization_id=body.organization_id,
        context=request_context(request),
        previous_token=request.cookies.get(auth_sessions.cookie_name(settings)),
    )
    _alert_new_device(sessions, settings, outcome)
    return _login_out(response, settings, outcome)


@router.post(
    "/auth/mfa/verify",
    dependencies=[PUBLIC],
    summary="Complete a sign-in with a TOTP code or a recovery code",
)
def verify_mfa(
    body: MfaVerifyRequest,
    request: Request,
    response: Response,
    sessions: SessionFactory,
    settings: AppSettings,
) -> LoginOut:
    outcome = auth.verify_second_factor(
        sessions,
        settings,
        challenge_token=body.challenge_token,
        code=body.code,
        recovery_code=body.recovery_code,
        context=request_context(request),
        webauthn_assertion=body.webauthn,
    )
    _alert_new_device(sessions, settings, outcome)
    return _login_out(response, settings, outcome)


@router.post("/auth/logout", status_code=204, summary="End this session")
def logout(
    principal: Annotated[Principal, require(P.ACCOUNT_MANAGE)],
    db: DbSession,
    response: Response,
    settings: AppSettings,
) -> Response:
    auth.logout(db, principal)
    response = Response(status_code=204)
    clear_session_cookies(response, settings)
    return response


@router.get("/auth/me", summary="Who am I: user, organization, role, permissions")
def me(principal: Annotated[Principal, require(P.ACCOUNT_MANAGE)], db: DbSession) -> MeOut:
    user = db.get(User, principal.actor_id)
    organization = db.get(Organization, principal.organization_id)
    assert user is not None and organization is not None and principal.role is not None
    return MeOut(
        user=_user_out(user),
        organization=OrganizationOut.model_validate(organization),
        role=principal.role,
        permissions=sorted(principal.permissions),
        session_id=principal.auth_session_id,
        mfa_enrollment_required=principal.mfa_enrollment_required,
    )


# --- the organization and its members ------------------------------------------------------------


@router.get("/organization", summary="The caller's organization")
def get_organization(
    principal: Annotated[Principal, require(P.ORGANIZATION_READ)], db: DbSession
) -> OrganizationOut:
    organization = db.get(Organization, principal.organization_id)
    return OrganizationOut.model_validate(organization)


@router.patch("/organization", summary="Change the organization's details or MFA requirement")
def update_organization(
    body: OrganizationUpdate,
    principal: Annotated[Principal, require(P.ORGANIZATION_MANAGE)],
    db: DbSession,
) -> OrganizationOut:
    return OrganizationOut.model_validate(organizations.update_organization(db, principal, body))


@router.get("/members", summary="Members of the organization")
def list_members(
    principal: Annotated[Principal, require(P.MEMBERS_READ)], db: DbSession, page: Pagination
) -> Page[MemberOut]:
    statement = select(Membership).where(Membership.organization_id == principal.organization_id)
    return paginate(db, statement, Membership.id, page, lambda row: _member_out(db, row))


@router.get("/members/{member_id}", summary="One member")
def get_member(
    member_id: str, principal: Annotated[Principal, require(P.MEMBERS_READ)], db: DbSession
) -> MemberOut:
    membership = get_for_organization(
        db, Membership, member_id, principal.organization_id, what="member"
    )
    return _member_out(db, membership)


@router.patch("/members/{member_id}", summary="Change a member's role")
def update_member(
    member_id: str,
    body: MemberUpdate,
    principal: Annotated[Principal, require(P.MEMBERS_MANAGE)],
    db: DbSession,
    settings: AppSettings,
) -> MemberOut:
    before = get_for_organization(db, Membership, member_id, principal.organization_id).role
    membership = organizations.change_role(db, principal, member_id, body.role)
    if membership.role != before:
        context, org = principal.context, principal.organization_id
        detail = f"Your role is now: {membership.role}."
        alerts.notify_user(
            db,
            settings,
            membership.user_id,
            Alert.ROLE_CHANGED,
            context=context,
            organization_id=org,
            detail=detail,
        )
        if alerts.powerful(membership.role):
            alerts.notify_owners(
                db,
                settings,
                org,
                Alert.POWERFUL_MEMBER,
                context=context,
                detail=f"The member {membership.id} is now {membership.role}.",
            )
    return _member_out(db, membership)


@router.delete("/members/{member_id}", status_code=204, summary="Remove a member")
def remove_member(
    member_id: str, principal: Annotated[Principal, require(P.MEMBERS_MANAGE)], db: DbSession
) -> Response:
    organizations.remove_member(db, principal, member_id)
    return Response(status_code=204)


# --- API keys ----------------------------------------------------------------------------------


@router.get("/api-keys", summary="API keys of the organization")
def list_api_keys(
    principal: Annotated[Principal, require(P.API_KEYS_MANAGE)], db: DbSession, page: Pagination
) -> Page[ApiKeyOut]:
    statement = select(ApiKey).where(ApiKey.organization_id == principal.organization_id)
    return paginate(db, statement, ApiKey.id, page, ApiKeyOut.model_validate)


@router.post("/api-keys", status_code=201, summary="Create an API key (the secret is shown once)")
def create_api_key(
    body: ApiKeyCreate,
    principal: Annotated[Principal, require(P.API_KEYS_MANAGE)],
    db: DbSession,
    settings: AppSettings,
) -> ApiKeyCreated:
    issued = api_keys.create(
        db, settings, principal, name=body.name, scopes=body.scopes, expires_at=body.expires_at
    )
    if principal.actor_type == "user":
        alerts.notify_user(
            db,
            settings,
            principal.actor_id,
            Alert.API_KEY_CREATED,
            context=principal.context,
            organization_id=principal.organization_id,
            detail=f"Its name: {issued.api_key.name}; its id: {issued.api_key.id}.",
        )
    out = ApiKeyOut.model_validate(issued.api_key)
    return ApiKeyCreated(**out.model_dump(), secret=issued.secret)


@router.get("/api-keys/{key_id}", summary="One API key (never its secret)")
def get_api_key(
    key_id: str, principal: Annotated[Principal, require(P.API_KEYS_MANAGE)], db: DbSession
) -> ApiKeyOut:
    api_key = get_for_organization(db, ApiKey, key_id, principal.organization_id, what="API key")
    return ApiKeyOut.model_validate(api_key)


@router.delete("/api-keys/{key_id}", summary="Revoke an API key")
def revoke_api_key(
    key_id: str, principal: Annotated[Principal, require(P.API_KEYS_MANAGE)], db: DbSession
) -> ApiKeyOut:
    return ApiKeyOut.model_validate(api_keys.revoke(db, principal, key_id))


# --- the caller's own account: password, second factor, sessions ------------------------------


def _alert_self(
    sessions: sessionmaker[Session], settings: Settings, principal: Principal, alert: Alert
) -> None:
    with transaction(sessions) as db:
        alerts.notify_user(
            db,
            settings,
            principal.actor_id,
            alert,
            context=principal.context,
            organization_id=principal.organization_id,
        )


def _alert_new_device(
    sessions: sessionmaker[Session], settings: Settings, outcome: auth.LoginOutcome
) -> None:
    if outcome.session is None:
        return
    session = outcome.session.session
    with transaction(sessions) as db:
        if alerts.is_new_device(db, outcome.user_id, session.id, session.user_agent):
            alerts.notify_user(
                db,
                settings,
                outcome.user_id,
                Alert.NEW_DEVICE_SIGN_IN,
                context=AuditContext(ip=session.ip, user_agent=session.user_agent),
                organization_id=outcome.organization_id,
            )


def _credential_change(
    response: Response, settings: Settings, rotated: account.Rotated
) -> CredentialChangeOut:
    if rotated.session is not None:
        set_session_cookies(response, settings, rotated.session)
    return CredentialChangeOut(
        session_id=rotated.session.session.id if rotated.session else None,
        csrf_token=rotated.session.session.csrf_token if rotated.session else None,
        other_sessions=rotated.other_sessions,
    )


@router.post("/auth/password", summary="Change your password (optionally ending other sessions)")
def change_password(
    body: PasswordChange,
    principal: Annotated[Principal, require(P.ACCOUNT_MANAGE)],
    response: Response,
    sessions: SessionFactory,
    settings: AppSettings,
) -> CredentialChangeOut:
    rotated = account.change_password(
        sessions,
        settings,
        principal,
        current_password=body.current_password,
        new_password=body.new_password,
        end_other_sessions=body.end_other_sessions,
    )
    _alert_self(sessions, settings, principal, Alert.PASSWORD_CHANGED)
    return _credential_change(response, settings, rotated)


@router.post(
    "/auth/password-reset",
    status_code=202,
    dependencies=[PUBLIC],
    summary="Mail a password-reset link (the answer never says whether the account exists)",
)
def request_password_reset(
    body: PasswordResetRequest,
    request: Request,
    sessions: SessionFactory,
    settings: AppSettings,
) -> dict[str, str]:
    account.request_password_reset(sessions, settings, body.email, request_context(request))
    return {"object": "password_reset", "status": "requested"}


@router.post(
    "/auth/password-reset/confirm",
    dependencies=[PUBLIC],
    summary="Set a new password with the mailed token (and a second factor if the account has one)",
)
def confirm_password_reset(
    body: PasswordResetConfirm,
    request: Request,
    sessions: SessionFactory,
    settings: AppSettings,
) -> dict[str, str]:
    account.confirm_password_reset(
        sessions,
        settings,
        token=body.token,
        new_password=body.new_password,
        code=body.code,
        recovery_code=body.recovery_code,
        context=request_context(request),
    )
    return {"object": "password_reset", "status": "completed"}


@router.post("/auth/mfa/totp/setup", summary="Start TOTP set-up: a new secret to scan")
def start_totp(
    principal: Annotated[Principal, require(P.ACCOUNT_MANAGE)], db: DbSession
) -> TotpSetupOut:
    setup = account.start_totp(db, principal)
    return TotpSetupOut(secret=setup.secret, otpauth_uri=setup.uri)


@router.post("/auth/mfa/totp/confirm", summary="Turn TOTP on with a first code; get recovery codes")
def confirm_totp(
    body: TotpConfirm,
    principal: Annotated[Principal, require(P.ACCOUNT_MANAGE)],
    response: Response,
    sessions: SessionFactory,
    settings: AppSettings,
) -> TotpEnabledOut:
    enabled = account.confirm_totp(
        sessions, settings, principal, code=body.code, end_other_sessions=body.end_other_sessions
    )
    _alert_self(sessions, settings, principal, Alert.MFA_ADDED)
    change = _credential_change(response, settings, enabled.rotated)
    return TotpEnabledOut(
        **change.model_dump(exclude={"object"}), recovery_codes=enabled.recovery_codes
    )


@router.post("/auth/mfa/totp/disable", summary="Turn TOTP off (password and a code)")
def disable_totp(
    body: TotpDisable,
    principal: Annotated[Principal, require(P.ACCOUNT_MANAGE)],
    response: Response,
    sessions: SessionFactory,
    settings: AppSettings,
) -> CredentialChangeOut:
    rotated = account.disable_totp(
        sessions,
        settings,
        principal,
        password=body.password,
        code=body.code,
        end_other_sessions=body.end_other_sessions,
    )
    _alert_self(sessions, settings, principal, Alert.MFA_REMOVED)
    return _credential_change(response, settings, rotated)


@router.post("/auth/mfa/recovery-codes", summary="Replace your recovery codes (needs a TOTP code)")
def regenerate_recovery_codes(
    body: RecoveryCodesRequest,
    principal: Annotated[Principal, require(P.ACCOUNT_MANAGE)],
    sessions: SessionFactory,
) -> RecoveryCodesOut:
    codes = account.regenerate_recovery_codes(sessions, principal, code=body.code)
    return RecoveryCodesOut(recovery_codes=codes)


@router.post(
    "/auth/mfa/webauthn/register/options",
    summary="Start registering a security key: options for navigator.credentials.create()",
)
def webauthn_registration_options(
    principal: Annotated[Principal, require(P.ACCOUNT_MANAGE)],
    db: DbSession,
    settings: AppSettings,
) -> WebAuthnOptionsOut:
    return WebAuthnOptionsOut(public_key=account.webauthn_options(db, settings, principal))


@router.post("/auth/mfa/webauthn/register", summary="Finish registering a security key")
def webauthn_register(
    body: WebAuthnRegister,
    principal: Annotated[Principal, require(P.ACCOUNT_MANAGE)],
    response: Response,
    sessions: SessionFactory,
    settings: AppSettings,
) -> WebAuthnRegisteredOut:
    added = account.add_webauthn(
        sessions,
        settings,
        principal,
        credential=body.credential,
        name=body.name,
        end_other_sessions=body.end_other_sessions,
    )
    _alert_self(sessions, settings, principal, Alert.PASSKEY_ADDED)
    change = _credential_change(response, settings, added.rotated)
    return WebAuthnRegisteredOut(
        **change.model_dump(exclude={"object"}),
        credential=WebAuthnCredentialOut.model_validate(added.credential),
        recovery_codes=added.recovery_codes,
    )


@router.get("/auth/mfa/webauthn/credentials", summary="Your security keys")
def webauthn_credentials(
    principal: Annotated[Principal, require(P.ACCOUNT_MANAGE)], db: DbSession
) -> WebAuthnCredentialList:
    return WebAuthnCredentialList(
        data=[
            WebAuthnCredentialOut.model_validate(item)
            for item in passkeys.credentials_of(db, principal.actor_id)
        ]
    )


@router.delete(
    "/auth/mfa/webauthn/credentials/{credential_id}",
    status_code=204,
    summary="Remove one of your security keys (needs your password)",
)
def webauthn_remove(
    credential_id: str,
    body: WebAuthnRemove,
    principal: Annotated[Principal, require(P.ACCOUNT_MANAGE)],
    sessions: SessionFactory,
    settings: AppSettings,
) -> Response:
    account.remove_webauthn(sessions, settings, principal, credential_id, password=body.password)
    return Response(status_code=204)


@router.get("/auth/sessions", summary="Your signed-in sessions")
def list_sessions(
    principal: Annotated[Principal, require(P.ACCOUNT_MANAGE)],
    db: DbSession,
    settings: AppSettings,
) -> AuthSessionList:
    live = auth_sessions.list_live(db, settings, principal.actor_id)
    return AuthSessionList(
        data=[
            AuthSessionOut.model_validate(item).model_copy(
                update={"current": item.id == principal.auth_session_id}
            )
            for item in live
        ]
    )


@router.delete("/auth/sessions/{session_id}", summary="End one of your sessions")
def end_session(
    session_id: str,
    principal: Annotated[Principal, require(P.ACCOUNT_MANAGE)],
    db: DbSession,
) -> AuthSessionOut:
    return AuthSessionOut.model_validate(account.end_own_session(db, principal, session_id))


@router.delete("/members/{member_id}/sessions", summary="End every session of a member")
def end_member_sessions(
    member_id: str, principal: Annotated[Principal, require(P.MEMBERS_MANAGE)], db: DbSession
) -> EndedSessionsOut:
    return EndedSessionsOut(ended=organizations.end_member_sessions(db, principal, member_id))


# --- invitations --------------------------------------------------------------------------------


@router.post("/invitations", status_code=201, summary="Invite someone by email")
def create_invitation(
    body: InvitationCreate,
    principal: Annotated[Principal, require(P.MEMBERS_MANAGE)],
    db: DbSession,
    settings: AppSettings,
) -> InvitationOut:
    issued = invitations.invite(db, settings, principal, email=body.email, role=body.role)
    return InvitationOut.model_validate(issued.invitation)


@router.get("/invitations", summary="Invitations of the organization")
def list_invitations(
    principal: Annotated[Principal, require(P.MEMBERS_READ)], db: DbSession, page: Pagination
) -> Page[InvitationOut]:
    statement = select(Invitation).where(Invitation.organization_id == principal.organization_id)
    return paginate(db, statement, Invitation.id, page, InvitationOut.model_validate)


@router.delete("/invitations/{invitation_id}", summary="Revoke an invitation")
def revoke_invitation(
    invitation_id: str,
    principal: Annotated[Principal, require(P.MEMBERS_MANAGE)],
    db: DbSession,
) -> InvitationOut:
    return InvitationOut.model_validate(invitations.revoke(db, principal, invitation_id))


@router.post(
    "/invitations/accept",
    status_code=201,
    dependencies=[PUBLIC],
    summary="Accept an invitation (creates the account, or joins with an existing one)",
)
def accept_invitation(
    body: InvitationAccept,
    request: Request,
    sessions: SessionFactory,
    settings: AppSettings,
) -> InvitationAcceptedOut:
    accepted = invitations.accept(
        sessions,
        settings,
        token=body.token,
        name=body.name,
        password=body.password,
        phone_number=body.phone_number,
        context=request_context(request),
        code=body.code,
        recovery_code=body.recovery_code,
    )
    if alerts.powerful(accepted.role):
        with transaction(sessions) as db:
            alerts.notify_owners(
                db,
                settings,
                accepted.organization_id,
                Alert.POWERFUL_MEMBER,
                context=request_context(request),
                detail=f"The member {accepted.member_id} joined as {accepted.role}.",
            )
    return InvitationAcceptedOut(
        organization_id=accepted.organization_id,
        user_id=accepted.user_id,
        member_id=accepted.member_id,
        role=accepted.role,
    )
