"""Request and response bodies of the identity API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import EmailStr, Field, StringConstraints

from kallglot.accounts.permissions import Permission, Role
from kallglot.core.instants import Instant
from kallglot.core.schemas import RequestModel, ResponseModel

# Printable text: no control characters (PostgreSQL refuses NUL; the rest has no business here).
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
_PRINTABLE_LINES = r"^[^\x00-\x09\x0b\x0c\x0e-\x1f\x7f]*$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_PRINTABLE)]
# The rules (8/15…128) are checked with their own error codes; this only stops abuse.
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024, strip_whitespace=False)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Token = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_PRINTABLE)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_PRINTABLE)]
ObjectId = Annotated[str, StringConstraints(max_length=40, pattern=r"^[a-z]+_[0-9A-Za-z]+$")]


class OrganizationDetails(RequestModel):
    name: Name
    legal_name: Name | None = None
    country: Country | None = None
    vat_id: (
        Annotated[str, StringConstraints(max_length=40, pattern=r"^[A-Za-z0-9 .-]*$")] | None
    ) = None
    address: Annotated[str, StringConstraints(max_length=500, pattern=_PRINTABLE_LINES)] | None = (
        None
    )


class SignupRequest(RequestModel):
    organization: OrganizationDetails
    name: Name
    email: EmailStr = Field(max_length=254)
    password: Password
    phone_number: Phone | None = None


class LoginRequest(RequestModel):
    email: EmailStr = Field(max_length=254)
    password: Password
    organization_id: ObjectId | None = None


class MfaVerifyRequest(RequestModel):
    challenge_token: Token
    code: Code | None = None
    recovery_code: Code | None = None
    # The PublicKeyCredential from navigator.credentials.get(), as JSON.
    webauthn: dict[str, Any] | None = None


class OrganizationUpdate(RequestModel):
    name: Name | None = None
    legal_name: Name | None = None
    country: Country | None = None
    vat_id: (
        Annotated[str, StringConstraints(max_length=40, pattern=r"^[A-Za-z0-9 .-]*$")] | None
    ) = None
    address: Annotated[str, StringConstraints(max_length=500, pattern=_PRINTABLE_LINES)] | None = (
        None
    )
    require_mfa: bool | None = None


class OrganizationOut(ResponseModel):
    id: str
    object: Literal["organization"] = "organization"
    name: str
    slug: str
    legal_name: str | None
    country: str | None
    vat_id: str | None
    address: str | None
    require_mfa: bool
    created_at: datetime


class UserOut(ResponseModel):
    id: str
    object: Literal["user"] = "user"
    email: str
    name: str
    phone_number: str | None
    mfa_enabled: bool
    created_at: datetime


class MeOut(ResponseModel):
    object: Literal["me"] = "me"
    user: UserOut
    organization: OrganizationOut
    role: Role
    permissions: list[Permission]
    session_id: str | None
    mfa_enrollment_required: bool


class LoginOut(ResponseModel):
    """Either a session (cookie set, ``csrf_token`` to echo) or an MFA challenge."""

    object: Literal["login"] = "login"
    status: Literal["signed_in", "mfa_required"]
    user_id: str
    organization_id: str
    session_id: str | None = None
    csrf_token: str | None = None
    expires_at: datetime | None = None
    challenge_token: str | None = None
    mfa_enrollment_required: bool = False
    mfa_methods: list[str] = []
    # Options for navigator.credentials.get() when the account has security keys.
    webauthn_options: dict[str, Any] | None = None


class SignupOut(ResponseModel):
    object: Literal["signup"] = "signup"
    organization: OrganizationOut
    user: UserOut
    session_id: str
    csrf_token: str
    expires_at: datetime


class MemberOut(ResponseModel):
    id: str
    object: Literal["member"] = "member"
    user_id: str
    email: str
    name: str
    role: Role
    mfa_enabled: bool
    created_at: datetime


class MemberUpdate(RequestModel):
    role: Role


class ApiKeyCreate(RequestModel):
    name: Name
    scopes: Annotated[list[Permission], Field(min_length=1, max_length=len(Permission))]
    expires_at: Instant | None = None


class ApiKeyOut(ResponseModel):
    id: str
    object: Literal["api_key"] = "api_key"
    name: str
    prefix: str
    last_four: str
    scopes: list[str]
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    """Only the creation response carries the secret; it is never shown again."""

    secret: str


class PasswordChange(RequestModel):
    current_password: Password
    new_password: Password
    end_other_sessions: bool = False


class CredentialChangeOut(ResponseModel):
    """After a password or MFA change: the new session, and how many others are still open."""

    object: Literal["credential_change"] = "credential_change"
    session_id: str | None
    csrf_token: str | None
    other_sessions: int


class PasswordResetRequest(RequestModel):
    email: EmailStr = Field(max_length=254)


class PasswordResetConfirm(RequestModel):
    token: Token
    new_password: Password
    code: Code | None = None
    recovery_code: Code | None = None


class TotpSetupOut(ResponseModel):
    object: Literal["totp_setup"] = "totp_setup"
    secret: str
    otpauth_uri: str


class TotpConfirm(RequestModel):
    code: Code
    end_other_sessions: bool = False


class TotpEnabledOut(CredentialChangeOut):
    recovery_codes: list[str]


class TotpDisable(RequestModel):
    password: Password
    code: Code
    end_other_sessions: bool = False


class RecoveryCodesRequest(RequestModel):
    code: Code


class RecoveryCodesOut(ResponseModel):
    object: Literal["recovery_codes"] = "recovery_codes"
    recovery_codes: list[str]


class AuthSessionOut(ResponseModel):
    id: str
    object: Literal["auth_session"] = "auth_session"
    organization_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    mfa_verified: bool
    current: bool = False


class AuthSessionList(ResponseModel):
    object: Literal["list"] = "list"
    data: list[AuthSessionOut]


class EndedSessionsOut(ResponseModel):
    object: Literal["ended_sessions"] = "ended_sessions"
    ended: int


class InvitationCreate(RequestModel):
    email: EmailStr = Field(max_length=254)
    role: Role


class InvitationOut(ResponseModel):
    id: str
    object: Literal["invitation"] = "invitation"
    email: str
    role: Role
    invited_by: str | None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


class InvitationAccept(RequestModel):
    token: Token
    password: Password
    name: Name | None = None
    phone_number: Phone | None = None
    # An existing account with MFA also proves its second factor.
    code: Code | None = None
    recovery_code: Code | None = None


class InvitationAcceptedOut(ResponseModel):
    object: Literal["invitation_acceptance"] = "invitation_acceptance"
    organization_id: str
    user_id: str
    member_id: str
    role: Role


class WebAuthnOptionsOut(ResponseModel):
    object: Literal["webauthn_registration_options"] = "webauthn_registration_options"
    public_key: dict[str, Any]


class WebAuthnRegister(RequestModel):
    # The PublicKeyCredential from navigator.credentials.create(), as JSON.
    credential: dict[str, Any]
    name: Name = "Security key"
    end_other_sessions: bool = False


class WebAuthnCredentialOut(ResponseModel):
    id: str
    object: Literal["webauthn_credential"] = "webauthn_credential"
    name: str
    created_at: datetime
    last_used_at: datetime | None


class WebAuthnRegisteredOut(CredentialChangeOut):
    credential: WebAuthnCredentialOut
    recovery_codes: list[str]


class WebAuthnCredentialList(ResponseModel):
    object: Literal["list"] = "list"
    data: list[WebAuthnCredentialOut]


class WebAuthnRemove(RequestModel):
    password: Password
