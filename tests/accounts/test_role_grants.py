"""Role grants never escalate (issue 20, finding 2).

Whether a role may grant another is derived here from the permission table, not listed by
hand: a member may give, invite to or take away only roles whose permissions they all hold.
"""

from __future__ import annotations

import pytest

from kallglot.accounts.permissions import ROLE_PERMISSIONS, Permission, Role
from tests.factories import Identity


def _may_grant(granter: Role, role: Role) -> bool:
    held = ROLE_PERMISSIONS[granter]
    return Permission.MEMBERS_MANAGE in held and ROLE_PERMISSIONS[role] <= held


def test_the_table_forbids_what_the_audit_found() -> None:
    # The probe's escalation: an admin made themselves (or invited) compliance.
    assert not _may_grant(Role.ADMIN, Role.COMPLIANCE)
    assert not _may_grant(Role.ADMIN, Role.OWNER)
    assert _may_grant(Role.ADMIN, Role.AGENT)
    assert all(_may_grant(Role.OWNER, role) for role in Role)


@pytest.mark.parametrize("granter", list(Role))
def test_a_member_grants_and_invites_only_roles_within_their_own_permissions(
    identity: Identity, granter: Role
) -> None:
    organization = identity.organization()
    identity.user(organization, Role.OWNER)  # never the last owner
    client = identity.client_as(granter, organization)
    for role in Role:
        allowed = _may_grant(granter, role)
        # The member changed starts in a role the granter may manage (when they may manage any).
        member = identity.user(organization, Role.AGENT)
        changed = client.patch(f"/v1/members/{member.member_id}", json={"role": str(role)})
        assert changed.status_code == (200 if allowed else 403), (granter, role, changed.text)
        if allowed:
            assert changed.json()["role"] == str(role)
        invited = client.post(
            "/v1/invitations", json={"email": f"{granter}-{role}@example.com", "role": str(role)}
        )
        assert invited.status_code == (201 if allowed else 403), (granter, role, invited.text)


@pytest.mark.parametrize(
    "granter", [r for r in Role if Permission.MEMBERS_MANAGE in ROLE_PERMISSIONS[r]]
)
def test_nobody_changes_their_own_role(identity: Identity, granter: Role) -> None:
    organization = identity.organization()
    identity.user(organization, Role.OWNER)
    me = identity.user(organization, granter)
    client = identity.login(me)
    for role in Role:
        if role == granter or not _may_grant(granter, role):
            continue
        refused = client.patch(f"/v1/members/{me.member_id}", json={"role": str(role)})
        assert refused.status_code == 403, (granter, role, refused.text)
    assert client.get("/v1/auth/me").json()["role"] == str(granter)


def test_a_member_whose_role_exceeds_the_callers_is_neither_changed_nor_removed(
    identity: Identity,
) -> None:
    organization = identity.organization()
    compliance = identity.user(organization, Role.COMPLIANCE)
    admin = identity.client_as(Role.ADMIN, organization)
    demoted = admin.patch(f"/v1/members/{compliance.member_id}", json={"role": "agent"})
    assert demoted.status_code == 403
    assert admin.delete(f"/v1/members/{compliance.member_id}").status_code == 403
    assert identity.login(compliance).get("/v1/auth/me").json()["role"] == "compliance"


def test_the_last_owner_cannot_be_demoted(identity: Identity) -> None:
    organization = identity.organization()
    owner = identity.user(organization, Role.OWNER)
    client = identity.login(owner)
    refused = client.patch(f"/v1/members/{owner.member_id}", json={"role": "admin"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "last_owner"
