"""Settings from the environment (prefix ``KALLGLOT_``) and an optional ``.env`` file."""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
import socket
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from kallglot.core.errors import ConfigurationError

MASTER_KEY_BYTES = 32


class IceServer(BaseModel):
    """One STUN or TURN server handed to the WebRTC peer (as in the browser's RTCIceServer)."""

    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(min_length=1)
    username: str | None = None
    credential: SecretStr | None = None

    @field_validator("urls", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("urls")
    @classmethod
    def _stun_or_turn(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
                raise ValueError(f"{url!r} is not a stun:, stuns:, turn: or turns: URL")
        return value


class PlanLimits(BaseModel):
    """What one plan allows: requests per minute (per credential and per organization, each
    its own budget) and API credits per calendar month (kallglot.api.ratelimit)."""

    requests_per_minute_per_key: int = Field(gt=0)
    requests_per_minute_per_organization: int = Field(gt=0)
    api_credits_per_month: int = Field(ge=0)


# "free": no subscription or contract; the others are ``BillingAccount.plan`` when subscribed.
DEFAULT_PLAN_LIMITS = {
    "free": PlanLimits(
        requests_per_minute_per_key=300,
        requests_per_minute_per_organization=1200,
        api_credits_per_month=100,
    ),
    "metered": PlanLimits(
        requests_per_minute_per_key=600,
        requests_per_minute_per_organization=3000,
        api_credits_per_month=10_000,
    ),
    "contract": PlanLimits(
        requests_per_minute_per_key=1200,
        requests_per_minute_per_organization=6000,
        api_credits_per_month=100_000,
    ),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KALLGLOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["development", "test", "production"] = "development"
    var_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
    blob_dir: Path | None = None
    master_key: SecretStr | None = Field(
        default=None, description="base64 of 32 random bytes; wraps the data keys"
    )
    public_base_url: str = "http://127.0.0.1:8000"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    max_request_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="largest request body; uploads (KYC documents) have their own limit",
    )
    idempotency_ttl_hours: int = Field(default=24, gt=0)
    plan_limits: dict[str, PlanLimits] = Field(
        default_factory=lambda: dict(DEFAULT_PLAN_LIMITS),
        description="JSON: plan -> rate limits and monthly API credits; must name 'free'",
    )

    # Identity (kallglot.accounts): password hashing, sessions, throttling, mail.
    # Argon2id defaults follow OWASP's recommendation; tests lower them for speed.
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_cost: int = Field(default=65536, ge=8, description="KiB")
    password_hash_parallelism: int = Field(default=4, ge=1)
    session_idle_timeout_minutes: int = Field(default=30, gt=0)
    session_absolute_timeout_hours: int = Field(default=12, gt=0)
    session_cookie_secure: bool | None = Field(
        default=None, description="default: on, except in development over plain http"
    )
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    mail_from: str = "Kallglot <no-reply@kallglot.com>"
    # --- privacy engine (crypto and retention) ---------------------------------------------
    previous_master_keys: SecretStr | None = Field(
        default=None,
        description="comma-separated base64 master keys still accepted for unwrapping data keys",
    )
    retention_interval_seconds: int = Field(
        default=3600, ge=0, description="how often the server runs the purge job; 0 disables it"
    )
    # --- end privacy engine -----------------------------------------------------------------
    # --- scale (issue 11: Redis bus, media-node registry) ------------------------------------
    redis_prefix: str = Field(default="kallglot:", description="every Redis key starts so")
    node_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        description="this media node's name in the registry",
    )
    node_url: str | None = Field(default=None, description="default: public_base_url")
    node_capacity: int = Field(
        default=2, ge=0, description="concurrent calls this node translates within 2.5 s p95"
    )
    node_heartbeat_seconds: float = Field(default=2.0, gt=0)
    node_ttl_seconds: float = Field(
        default=6.0, gt=0, description="a node silent this long is dead and its calls fail"
    )
    call_write_queue: Path | None = Field(
        default=None,
        description="durable queue of call writes while the database is down;"
        " default: <var_dir>/call-writes.sqlite3",
    )
    call_write_retry_seconds: float = Field(
        default=1.0, gt=0, description="how often queued call writes are retried"
    )
    # --- end scale ----------------------------------------------------------------------------
    # --- numbers (numbers, KYC, routing, call records) -------------------------------------
    default_carrier: Literal["twilio", "telnyx", "sip_trunk"] = "sip_trunk"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_base_url: str | None = Field(
        default=None, description="send Twilio API calls here instead (a proxy or a test server)"
    )
    telnyx_api_key: SecretStr | None = None
    telnyx_base_url: str | None = None
    telnyx_connection_id: str | None = Field(
        default=None, description="the TeXML application that numbers are attached to"
    )
    kyc_max_document_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    kyc_retention_years: int = Field(
        default=10, ge=1, description="KYC is kept this long after a bundle ends (regulatory)"
    )
    kyc_bundle_validity_days: int = Field(default=365, ge=1)
    # --- end numbers ------------------------------------------------------------------------

    # --- billing (metering, Stripe, credits, invoices) ---------------------------------------
    stripe_api_key: SecretStr | None = Field(default=None, description="Stripe secret key")
    stripe_webhook_secret: SecretStr | None = Field(default=None, description="whsec_…")
    stripe_api_base: str | None = Field(default=None, description="override of api.stripe.com")
    stripe_price_id: str | None = Field(default=None, description="metered price of the plan")
    stripe_webhook_tolerance_seconds: int = Field(default=300, gt=0)
    billing_hard_limit_minutes: int = Field(
        default=600, gt=0, description="a live session is ended after this many minutes"
    )
    billing_warning_minutes: int = Field(default=5, gt=0, description="warned this early")
    billing_limit_check_seconds: float = Field(default=15.0, gt=0)
    billing_seller_name: str = "Kallglot GmbH"
    billing_seller_address: str = "Musterstrasse 1, 10115 Berlin, Germany"
    billing_seller_country: str = Field(default="DE", min_length=2, max_length=2)
    billing_seller_vat_id: str = "DE136695976"
    billing_seller_iban: str = "DE89370400440532013000"
    billing_seller_bic: str = "COBADEFFXXX"
    billing_vat_rate_percent: float = Field(default=19.0, ge=0, le=30)
    billing_price_cents_per_minute: int = Field(default=9, ge=0)
    billing_number_cents_per_day: int = Field(default=3, ge=0)
    billing_invoice_due_days: int = Field(default=30, ge=0)
    # --- end billing ------------------------------------------------------------------------
    # --- realtime (calls) ---
    stream_token_ttl_seconds: int = Field(default=300, gt=0, le=3600)
    call_idle_timeout_seconds: int = Field(default=1800, gt=0)
    call_abandon_seconds: float = Field(
        default=60.0,
        gt=0,
        description="a live call with no leg connected this long ends (reason abandoned)",
    )
    max_concurrent_calls: int = Field(
        default_factory=lambda: 2 * (os.cpu_count() or 1),
        gt=0,
        description="calls one node translates at once; more are refused (capacity_exceeded)",
    )
    webhook_timeout_seconds: float = Field(default=30.0, gt=0)
    # --- end realtime ---
    # --- security (issue 20) -----------------------------------------------------------------
    outbound_allowed_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs that webhooks may reach although private or loopback"
        " (on-premises receivers); every other non-public address is refused",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or CIDRs of reverse proxies whose X-Forwarded-For/-Proto are"
        " believed; from anyone else these headers are ignored",
    )
    # --- end security -------------------------------------------------------------------------
    # --- speech (kallglot.speech) ---------------------------------------------------------
    speech_models_dir: Path | None = Field(
        default=None, description="where joined/pulled models live; default var/models"
    )
    speech_workers: int = Field(default=3, ge=1, description="threads running speech models")
    speech_asr_threads: int = Field(default=1, ge=1, description="CTranslate2 threads per run")
    speech_asr_replicas: int = Field(default=2, ge=1, description="Whisper decodes run at once")
    speech_asr_compute_type: str = "int8"
    speech_asr_beam_size: int = Field(default=3, ge=1, description="beam for finals; 1 = greedy")
    speech_max_audio_seconds: float = Field(default=600.0, gt=0)
    # --- end speech -----------------------------------------------------------------------
    # --- telephony transports ---------------------------------------------------------------
    telephony_media_idle_seconds: float = Field(
        default=15.0, gt=0, description="a media stream silent this long is closed"
    )
    telnyx_public_key: str | None = Field(
        default=None, description="base64 Ed25519 key that signs Telnyx call-control webhooks"
    )
    sip_listen: str | None = Field(
        default=None,
        pattern=r"^udp:[^:]+:\d{1,5}$",
        description="SIP gateway socket, e.g. udp:127.0.0.1:5070; unset = no SIP listener",
    )
    sip_public_host: str | None = Field(
        default=None, description="address in Contact/SDP; default: the listen address"
    )
    sip_rtp_port_min: int = Field(default=20000, ge=1024, le=65534)
    sip_rtp_port_max: int = Field(default=20999, ge=1025, le=65535)
    sip_trusted_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs allowed to send INVITEs; empty = any source",
    )
    sip_digest_username: str | None = Field(
        default=None, description="with the password: INVITEs must authenticate (digest)"
    )
    sip_digest_password: SecretStr | None = None
    sip_session_expires_seconds: int = Field(
        default=1800, ge=90, description="session timer offered when the caller asks for one"
    )
    # --- end telephony transports -----------------------------------------------------------
    # --- WebRTC agent leg ------------------------------------------------------------------
    webrtc_ice_servers: list[IceServer] = Field(
        default_factory=list,
        description="STUN/TURN servers as JSON, e.g. [{'urls': 'turn:host:3478', 'username': …}]",
    )
    webrtc_connect_timeout_seconds: float = Field(
        default=20.0, gt=0, description="a peer whose ICE/DTLS is not up this long is closed"
    )
    # --- end WebRTC agent leg --------------------------------------------------------------
    # --- backups and the erasure ledger (privacy) ------------------------------------------
    backup_dir: Path | None = Field(default=None, description="default: var_dir/backups")
    backup_retention_days: int = Field(default=35, ge=1, description="`kallglot backup prune`")
    erasure_ledger_path: Path | None = Field(
        default=None,
        description="append-only record of erasures, kept outside the backups; "
        "default: var_dir/privacy/erasure-ledger.jsonl",
    )
    # --- end backups ----------------------------------------------------------------------

    @field_validator("plan_limits")
    @classmethod
    def _free_plan_is_named(cls, value: dict[str, PlanLimits]) -> dict[str, PlanLimits]:
        if "free" not in value:
            raise ValueError("plan_limits must give the 'free' plan")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be an sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("outbound_allowed_networks", "trusted_proxies")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network.strip(), strict=False)
        return value

    @field_validator("public_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("master_key")
    @classmethod
    def _key_size(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _decode_master_key(value.get_secret_value())
        return value

    @field_validator("previous_master_keys")
    @classmethod
    def _previous_key_sizes(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _decode_key_list(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _production_needs_explicit_secrets(self) -> Settings:
        if self.env == "production" and self.master_key is None:
            raise ValueError("KALLGLOT_MASTER_KEY is required when KALLGLOT_ENV=production")
        if self.env == "production" and not self.database_url:
            raise ValueError("KALLGLOT_DATABASE_URL is required when KALLGLOT_ENV=production")
        return self

    @property
    def stream_token_ttl(self) -> timedelta:
        return timedelta(seconds=self.stream_token_ttl_seconds)

    @property
    def call_idle_timeout(self) -> timedelta:
        return timedelta(seconds=self.call_idle_timeout_seconds)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.var_dir / 'kallglot.db').as_posix()}"

    @property
    def effective_call_write_queue(self) -> Path:
        return self.call_write_queue or self.var_dir / "call-writes.sqlite3"

    @property
    def effective_session_cookie_secure(self) -> bool:
        if self.session_cookie_secure is not None:
            return self.session_cookie_secure
        return not (self.env == "development" and self.public_base_url.startswith("http://"))

    @property
    def effective_blob_dir(self) -> Path:
        return self.blob_dir or self.var_dir / "blobs"

    @property
    def effective_backup_dir(self) -> Path:
        return self.backup_dir or self.var_dir / "backups"

    @property
    def effective_erasure_ledger_path(self) -> Path:
        return self.erasure_ledger_path or self.var_dir / "privacy" / "erasure-ledger.jsonl"

    @property
    def effective_speech_models_dir(self) -> Path:
        return self.speech_models_dir or self.var_dir / "models"

    def master_key_bytes(self) -> bytes:
        """The master key; in the embedded default it is generated once into ``var/``."""
        if self.master_key is not None:
            return _decode_master_key(self.master_key.get_secret_value())
        key_file = self.var_dir / "master.key"
        if not key_file.exists():
            self.var_dir.mkdir(parents=True, exist_ok=True)
            encoded = base64.b64encode(secrets.token_bytes(MASTER_KEY_BYTES)).decode()
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(encoded)
        return _decode_master_key(key_file.read_text().strip())

    def previous_master_keys_bytes(self) -> list[bytes]:
        """Retired master keys still accepted for unwrapping (until ``kallglot keys rotate``)."""
        if self.previous_master_keys is None:
            return []
        return _decode_key_list(self.previous_master_keys.get_secret_value())


def _decode_master_key(encoded: str) -> bytes:
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise ValueError("must be base64") from exc
    if len(raw) != MASTER_KEY_BYTES:
        raise ValueError(f"must decode to {MASTER_KEY_BYTES} bytes")
    return raw


def _decode_key_list(encoded: str) -> list[bytes]:
    return [_decode_master_key(part.strip()) for part in encoded.split(",") if part.strip()]


def load_settings(**overrides: object) -> Settings:
    """Read settings; a bad one raises ConfigurationError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            name = f"KALLGLOT_{field.upper()}" if field else "settings"
            problems.append(f"{name}: {error['msg']}")
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
