"""Helpers shared by several test modules."""

from __future__ import annotations

import pyotp
from fastapi.testclient import TestClient


def enable_totp(client: TestClient) -> tuple[str, list[str]]:
    setup = client.post("/v1/auth/mfa/totp/setup")
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    assert setup.json()["otpauth_uri"].startswith("otpauth://totp/Kallglot:")
    confirmed = client.post("/v1/auth/mfa/totp/confirm", json={"code": pyotp.TOTP(secret).now()})
    assert confirmed.status_code == 200, confirmed.text
    client.headers["X-CSRF-Token"] = confirmed.json()["csrf_token"]
    return secret, confirmed.json()["recovery_codes"]
