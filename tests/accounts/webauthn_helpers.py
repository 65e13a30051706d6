"""Helpers shared by several test modules."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.accounts.soft_authenticator import SoftAuthenticator

ORIGIN = "http://127.0.0.1:8000"  # the test settings' public base URL


def register(client: TestClient, authenticator: SoftAuthenticator) -> dict[str, Any]:
    options = client.post("/v1/auth/mfa/webauthn/register/options")
    assert options.status_code == 200, options.text
    credential = authenticator.create(options.json()["public_key"])
    done = client.post(
        "/v1/auth/mfa/webauthn/register", json={"credential": credential, "name": "YubiKey"}
    )
    assert done.status_code == 200, done.text
    client.headers["X-CSRF-Token"] = done.json()["csrf_token"]
    return dict(done.json())
