"""The permission matrix: every route declares one permission (or is public), and every
role and API key without that permission is refused with 403."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI

from kallglot.accounts.dependencies import Endpoint, endpoints
from kallglot.accounts.permissions import (
    API_KEY_PERMISSIONS,
    ROLE_PERMISSIONS,
    USER_ONLY_PERMISSIONS,
    Permission,
    Role,
)
from tests.factories import Identity


def concrete_path(endpoint: Endpoint) -> str:
    return re.sub(r"\{[^}]+\}", "xyz_00000000000000000000000000", endpoint.path)


def test_every_route_declares_exactly_one_permission_or_public(app: FastAPI) -> None:
    found = endpoints(app)
    assert len(found) >= 30  # the walk reaches included routers (never vacuous)
    undeclared = {
        f"{sorted(endpoint.methods)} {endpoint.path}": endpoint.declarations
        for endpoint in found
        if len(endpoint.declarations) != 1
    }
    assert undeclared == {}


def test_only_the_sign_in_flows_and_probes_are_public(app: FastAPI) -> None:
    public = {endpoint.path for endpoint in endpoints(app) if endpoint.is_public}
    assert public >= {"/healthz", "/v1/auth/login", "/v1/auth/signup"}
    assert "/v1/auth/me" not in public and "/v1/api-keys" not in public


def test_permission_names_are_noun_verb() -> None:
    for permission in Permission:
        assert re.fullmatch(r"[a-z_]+:[a-z_]+", permission), permission


def test_roles_as_the_issue_describes() -> None:
    assert ROLE_PERMISSIONS[Role.OWNER] == frozenset(Permission)
    for role in Role:
        assert Permission.ACCOUNT_MANAGE in ROLE_PERMISSIONS[role]
    assert {role for role in Role if Permission.AUDIT_READ in ROLE_PERMISSIONS[role]} == {
        Role.OWNER,
        Role.COMPLIANCE,
    }
    assert Permission.BILLING_MANAGE not in ROLE_PERMISSIONS[Role.ADMIN]
    assert Permission.NUMBERS_WRITE not in ROLE_PERMISSIONS[Role.AGENT]
    assert not USER_ONLY_PERMISSIONS & API_KEY_PERMISSIONS


def _routes_needing(app: FastAPI) -> list[tuple[str, str, Permission]]:
    out = []
    for endpoint in endpoints(app):
        permission = endpoint.permission
        if permission is None:
            continue
        for method in sorted(endpoint.methods - {"HEAD"}):
            out.append((method, concrete_path(endpoint), permission))
    assert len(out) >= 25
    return out


@pytest.mark.parametrize("role", list(Role))
def test_each_role_is_refused_every_route_it_lacks_the_permission_for(
    identity: Identity, app: FastAPI, role: Role
) -> None:
    organization = identity.organization()
    client = identity.client_as(role, organization)
    for method, path, permission in _routes_needing(app):
        if permission in ROLE_PERMISSIONS[role]:
            continue  # allowed routes are exercised by their domain's own tests
        response = client.request(method, path, json={})
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["type"] == "permission_error"
        assert response.json()["error"]["code"] == "insufficient_permissions"
    # The client is still signed in: the refusals did not end the session.
    assert client.get("/v1/auth/me").status_code == 200


def test_api_keys_are_refused_every_route_outside_their_scopes(
    identity: Identity, app: FastAPI
) -> None:
    organization = identity.organization()
    for method, path, permission in _routes_needing(app):
        key = identity.api_key(organization, API_KEY_PERMISSIONS - {permission})
        response = identity.key_client(key).request(method, path, json={})
        assert response.status_code == 403, (method, path, response.text)


def test_unauthenticated_callers_get_401_on_every_protected_route(
    identity: Identity, app: FastAPI
) -> None:
    client = identity.client()
    for method, path, _permission in _routes_needing(app):
        response = client.request(method, path, json={})
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["type"] == "authentication_error"
