"""The demo organization that ``make run`` seeds so the product can be tried at once.

Besides the organization: an owner and an agent, and an API key. Outside production,
``kallglot demo seed`` writes their credentials to ``var/demo-credentials.json``
(mode 0600) for the tools that drive the demo (``bench/call.py``). The credentials
are made when the file is missing or no longer matches the database, and kept otherwise.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from kallglot.accounts import api_keys, passwords
from kallglot.accounts.models import ApiKey, Organization, User
from kallglot.accounts.organizations import add_member, create_user, find_user_by_email
from kallglot.accounts.permissions import API_KEY_PERMISSIONS, Role
from kallglot.accounts.tokens import digest
from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings

DEMO_SLUG = "demo"
DEMO_OWNER_EMAIL = "owner@demo.example.com"
DEMO_AGENT_EMAIL = "agent@demo.example.com"
DEMO_KEY_NAME = "demo"
CREDENTIALS_FILE = "demo-credentials.json"


def seed_demo_organization(session: Session) -> Organization:
    """Create the demo organization unless it exists (safe to run on every start)."""
    existing = session.scalar(select(Organization).where(Organization.slug == DEMO_SLUG))
    if existing is not None:
        return existing
    organization = Organization(
        id=new_id("org"), name="Demo Contact Centre", slug=DEMO_SLUG, is_demo=True
    )
    session.add(organization)
    session.flush()
    return organization


@dataclass(frozen=True)
class DemoCredentials:
    organization_id: str
    owner_email: str
    owner_password: str
    agent_email: str
    agent_password: str
    api_key: str

    def as_json(self) -> str:
        return json.dumps(self.__dict__, indent=2) + "\n"


def credentials_path(settings: Settings) -> Path:
    return settings.var_dir / CREDENTIALS_FILE


def _read(path: Path) -> dict[str, str] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _still_valid(
    session: Session, settings: Settings, organization: Organization, data: dict[str, str]
) -> bool:
    for email_field, password_field in (
        ("owner_email", "owner_password"),
        ("agent_email", "agent_password"),
    ):
        user = find_user_by_email(session, str(data.get(email_field, "")))
        if user is None or not passwords.verify_password(
            settings, user.password_hash, str(data.get(password_field, ""))
        ):
            return False
    key = session.scalar(
        select(ApiKey).where(ApiKey.key_hash == digest(str(data.get("api_key", ""))))
    )
    return (
        data.get("organization_id") == organization.id
        and key is not None
        and key.revoked_at is None
        and key.organization_id == organization.id
    )


def _ensure_user(
    session: Session,
    settings: Settings,
    organization: Organization,
    email: str,
    name: str,
    role: Role,
) -> str:
    password = secrets.token_urlsafe(18)  # 24 characters, never on a blocklist
    user = find_user_by_email(session, email)
    if user is None:
        user = create_user(session, settings, email=email, name=name, password=password)
        add_member(session, organization.id, user.id, role)
    else:
        user.password_hash = passwords.hash_password(settings, password)
        user.password_changed_at = utcnow()
    return password


def seed_demo_accounts(
    session: Session, settings: Settings
) -> tuple[Organization, DemoCredentials | None]:
    """The demo organization, an owner, an agent and an API key.

    Returns fresh credentials when they were (re)made, ``None`` when the file on disk
    still opens the demo. Production never gets demo accounts.
    """
    organization = seed_demo_organization(session)
    if settings.env == "production":
        return organization, None
    path = credentials_path(settings)
    data = _read(path)
    if data is not None and _still_valid(session, settings, organization, data):
        return organization, None
    owner_password = _ensure_user(
        session, settings, organization, DEMO_OWNER_EMAIL, "Demo Owner", Role.OWNER
    )
    agent_password = _ensure_user(
        session, settings, organization, DEMO_AGENT_EMAIL, "Demo Agent", Role.AGENT
    )
    for key in session.scalars(
        select(ApiKey).where(
            ApiKey.organization_id == organization.id,
            ApiKey.name == DEMO_KEY_NAME,
            ApiKey.revoked_at.is_(None),
        )
    ):
        key.revoked_at = utcnow()
    issued = api_keys.issue(
        session,
        settings,
        organization_id=organization.id,
        name=DEMO_KEY_NAME,
        scopes=API_KEY_PERMISSIONS,
    )
    credentials = DemoCredentials(
        organization_id=organization.id,
        owner_email=DEMO_OWNER_EMAIL,
        owner_password=owner_password,
        agent_email=DEMO_AGENT_EMAIL,
        agent_password=agent_password,
        api_key=issued.secret,
    )
    return organization, credentials


def write_credentials(settings: Settings, credentials: DemoCredentials) -> Path:
    """Write the file with mode 0600 (replacing it atomically)."""
    path = credentials_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(credentials.as_json())
    os.replace(temporary, path)
    return path


__all__ = [
    "DEMO_SLUG",
    "DemoCredentials",
    "User",
    "credentials_path",
    "seed_demo_accounts",
    "seed_demo_organization",
    "write_credentials",
]
