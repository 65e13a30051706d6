"""Who is calling: a signed-in user or an API key, always inside one organization."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kallglot.accounts.permissions import Permission, Role
from kallglot.audit import AuditContext

ActorType = Literal["user", "api_key"]


@dataclass(frozen=True)
class Principal:
    organization_id: str
    actor_type: ActorType
    actor_id: str
    role: Role | None
    permissions: frozenset[Permission]
    auth_session_id: str | None = None
    context: AuditContext = field(default_factory=AuditContext)
    # The organization requires MFA and this user has none yet: only their own
    # account (to enrol) is reachable until they do.
    mfa_enrollment_required: bool = False

    def has(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def user_id(self) -> str | None:
        return self.actor_id if self.actor_type == "user" else None

    @property
    def is_user(self) -> bool:
        return self.actor_type == "user"
