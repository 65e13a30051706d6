"""Tables of the identity domain.

Secrets never sit in a column as they were issued: session tokens, API keys,
invitation and reset tokens, recovery codes are stored as SHA-256 digests (they are
256-bit random values, so a fast hash is enough); passwords as argon2id hashes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from kallglot.crypto.fields import EncryptedAttribute
from kallglot.db.base import Base, IdMixin, TimestampMixin

ID = String(40)
DIGEST = String(64)


class Organization(IdMixin, TimestampMixin, Base):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    is_demo: Mapped[bool] = mapped_column(default=False)
    legal_name: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    vat_id: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(500))
    require_mfa: Mapped[bool] = mapped_column(default=False, server_default=false())


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Encrypted under the platform data key, bound to the row: read and set ``phone_number``.
    phone_number_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_number = EncryptedAttribute("phone_number_encrypted")
    password_hash: Mapped[str] = mapped_column(String(255))
    password_changed_at: Mapped[datetime]
    is_active: Mapped[bool] = mapped_column(default=True)
    # TOTP: the confirmed secret, a secret being set up (both encrypted under the platform data
    # key, bound to the row: read and set ``totp_secret``/``totp_pending_secret``), and the last
    # accepted time step.
    totp_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_pending_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_secret = EncryptedAttribute("totp_secret_encrypted")
    totp_pending_secret = EncryptedAttribute("totp_pending_secret_encrypted")
    totp_last_step: Mapped[int | None]
    # Set while the user has at least one second factor (TOTP or a WebAuthn credential).
    mfa_enabled_at: Mapped[datetime | None]
    # A WebAuthn registration in progress: its challenge and when that expires.
    webauthn_challenge: Mapped[str | None] = mapped_column(String(128))
    webauthn_challenge_expires_at: Mapped[datetime | None]

    @property
    def mfa_enabled(self) -> bool:
        return self.mfa_enabled_at is not None


class Membership(IdMixin, TimestampMixin, Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("organization_id", "user_id"),)

    organization_id: Mapped[str] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))


class AuthSession(IdMixin, TimestampMixin, Base):
    """A signed-in browser: an opaque cookie token, bound to one organization."""

    __tablename__ = "auth_sessions"

    token_hash: Mapped[str] = mapped_column(DIGEST, unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[str] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    mfa_verified: Mapped[bool] = mapped_column(default=False)


class LoginChallenge(IdMixin, TimestampMixin, Base):
    """A correct password waiting for its second factor (short-lived, single use)."""

    __tablename__ = "login_challenges"

    token_hash: Mapped[str] = mapped_column(DIGEST, unique=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"))
    organization_id: Mapped[str] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    webauthn_challenge: Mapped[str | None] = mapped_column(String(128))


class WebAuthnCredential(IdMixin, TimestampMixin, Base):
    """A security key or passkey registered as a second factor."""

    __tablename__ = "webauthn_credentials"

    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(100))
    last_used_at: Mapped[datetime | None]


class RecoveryCode(IdMixin, TimestampMixin, Base):
    __tablename__ = "recovery_codes"

    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(DIGEST)
    used_at: Mapped[datetime | None]


class ApiKey(IdMixin, TimestampMixin, Base):
    __tablename__ = "api_keys"

    organization_id: Mapped[str] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(DIGEST, unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    last_four: Mapped[str] = mapped_column(String(4))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_by: Mapped[str | None] = mapped_column(ID)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Invitation(IdMixin, TimestampMixin, Base):
    __tablename__ = "invitations"

    organization_id: Mapped[str] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    # Encrypted with the organization's key (read and set ``email``); found by its keyed hash.
    email_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    email_hash: Mapped[str] = mapped_column(DIGEST, index=True)
    email = EncryptedAttribute("email_encrypted", organization_attribute="organization_id")
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(DIGEST, unique=True)
    invited_by: Mapped[str | None] = mapped_column(ID)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class PasswordResetToken(IdMixin, TimestampMixin, Base):
    __tablename__ = "password_reset_tokens"

    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(DIGEST, unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ThrottleCounter(Base):
    """Failed attempts per key (account or IP) and until when further attempts wait."""

    __tablename__ = "throttle_counters"
    __table_args__ = (Index("ix_throttle_counters_updated_at", "updated_at"),)

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    blocked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime]
