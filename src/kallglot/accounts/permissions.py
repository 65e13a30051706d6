"""Every permission of the product, the roles, and which role holds which permission.

Each route declares exactly one permission (see ``kallglot.accounts.dependencies``).
Domains do not invent permissions of their own: they use the names declared here,
so that the role table below stays the single answer to "who may do what".
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    """``noun:verb``: what a caller may do. API keys carry a subset as their scopes."""

    # The caller's own account: profile, password, MFA, own sessions. Every role has it;
    # API keys never do (an API key has no user account to manage).
    ACCOUNT_MANAGE = "account:manage"

    ORGANIZATION_READ = "organization:read"
    ORGANIZATION_MANAGE = "organization:manage"
    MEMBERS_READ = "members:read"
    MEMBERS_MANAGE = "members:manage"
    API_KEYS_MANAGE = "api_keys:manage"

    # Real-time translation sessions (the public ``/v1/sessions`` API).
    SESSIONS_READ = "sessions:read"
    SESSIONS_WRITE = "sessions:write"
    # Telephony call legs and call records; answering is what an agent does in the console.
    CALLS_READ = "calls:read"
    CALLS_ANSWER = "calls:answer"
    CALLS_MANAGE = "calls:manage"
    RECORDINGS_READ = "recordings:read"
    RECORDINGS_DELETE = "recordings:delete"
    TRANSCRIPTS_READ = "transcripts:read"
    ANALYSIS_READ = "analysis:read"
    ANALYSIS_WRITE = "analysis:write"
    AI_AGENTS_READ = "ai_agents:read"
    AI_AGENTS_WRITE = "ai_agents:write"

    NUMBERS_READ = "numbers:read"
    NUMBERS_WRITE = "numbers:write"
    KYC_READ = "kyc:read"
    KYC_WRITE = "kyc:write"
    ROUTING_READ = "routing:read"
    ROUTING_MANAGE = "routing:manage"
    # Human agents: who is online, and an agent setting their own presence.
    AGENTS_READ = "agents:read"
    PRESENCE_WRITE = "presence:write"
    WEBHOOKS_MANAGE = "webhooks:manage"

    BILLING_READ = "billing:read"
    BILLING_MANAGE = "billing:manage"
    ANALYTICS_READ = "analytics:read"

    PRIVACY_READ = "privacy:read"
    PRIVACY_MANAGE = "privacy:manage"
    LEGAL_REQUESTS_MANAGE = "legal_requests:manage"
    RETENTION_MANAGE = "retention:manage"
    AUDIT_READ = "audit:read"


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    BILLING = "billing"
    COMPLIANCE = "compliance"


P = Permission

_ALL = frozenset(Permission)

_AGENT = frozenset(
    {
        P.ACCOUNT_MANAGE,
        P.ORGANIZATION_READ,
        P.SESSIONS_READ,
        P.SESSIONS_WRITE,
        P.CALLS_READ,
        P.CALLS_ANSWER,
        P.TRANSCRIPTS_READ,
        P.AGENTS_READ,
        P.PRESENCE_WRITE,
    }
)

_SUPERVISOR = _AGENT | {
    P.MEMBERS_READ,
    P.CALLS_MANAGE,
    P.RECORDINGS_READ,
    P.ANALYSIS_READ,
    P.ANALYSIS_WRITE,
    P.AI_AGENTS_READ,
    P.NUMBERS_READ,
    P.ROUTING_READ,
    P.ROUTING_MANAGE,
    P.ANALYTICS_READ,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: _ALL,
    # Admins run the organization but neither read the audit log, answer legal requests,
    # decide on personal-data requests nor move money: those stay with owner,
    # compliance and billing.
    Role.ADMIN: _ALL - {P.AUDIT_READ, P.LEGAL_REQUESTS_MANAGE, P.PRIVACY_MANAGE, P.BILLING_MANAGE},
    Role.SUPERVISOR: frozenset(_SUPERVISOR),
    Role.AGENT: _AGENT,
    Role.BILLING: frozenset(
        {
            P.ACCOUNT_MANAGE,
            P.ORGANIZATION_READ,
            P.BILLING_READ,
            P.BILLING_MANAGE,
            P.ANALYTICS_READ,
        }
    ),
    Role.COMPLIANCE: frozenset(
        {
            P.ACCOUNT_MANAGE,
            P.ORGANIZATION_READ,
            P.MEMBERS_READ,
            P.SESSIONS_READ,
            P.CALLS_READ,
            P.RECORDINGS_READ,
            P.RECORDINGS_DELETE,
            P.TRANSCRIPTS_READ,
            P.KYC_READ,
            P.PRIVACY_READ,
            P.PRIVACY_MANAGE,
            P.LEGAL_REQUESTS_MANAGE,
            P.RETENTION_MANAGE,
            P.AUDIT_READ,
        }
    ),
}

# What an API key can never carry: managing a user account, people or other keys
# needs a person behind the request.
USER_ONLY_PERMISSIONS = frozenset({P.ACCOUNT_MANAGE, P.MEMBERS_MANAGE, P.API_KEYS_MANAGE})
API_KEY_PERMISSIONS = _ALL - USER_ONLY_PERMISSIONS


def permissions_for(role: Role) -> frozenset[Permission]:
    return ROLE_PERMISSIONS[role]


def may_grant(granter: frozenset[Permission], role: Role) -> bool:
    """Whether someone holding ``granter`` may give (invite to, assign, take away) ``role``:
    only a role whose every permission they hold themselves, so that no grant escalates."""
    return Permission.MEMBERS_MANAGE in granter and ROLE_PERMISSIONS[role] <= granter


def parse_permissions(values: list[str] | tuple[str, ...]) -> frozenset[Permission]:
    """Known permission names only; unknown names raise ``ValueError``."""
    return frozenset(Permission(value) for value in values)


__all__ = [
    "API_KEY_PERMISSIONS",
    "ROLE_PERMISSIONS",
    "USER_ONLY_PERMISSIONS",
    "Permission",
    "Role",
    "may_grant",
    "parse_permissions",
    "permissions_for",
]
