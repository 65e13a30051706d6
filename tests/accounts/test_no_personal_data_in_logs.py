"""Identity flows log no emails, passwords, tokens or codes."""

from __future__ import annotations

import logging

import pytest

from kallglot.accounts.permissions import Role
from tests.factories import Identity


def test_login_and_reset_logs_hold_no_secrets(
    identity: Identity, caplog: pytest.LogCaptureFixture
) -> None:
    organization = identity.organization()
    user = identity.user(organization, Role.AGENT, email="private.person@example.com")
    caplog.set_level(logging.DEBUG)
    client = identity.client()
    client.post("/v1/auth/login", json={"email": user.email, "password": "wrong secret pw"})
    identity.login(user)
    client.post("/v1/auth/password-reset", json={"email": user.email})
    text = "\n".join(record.getMessage() + str(record.__dict__) for record in caplog.records)
    for secret in ("private.person", "wrong secret pw", user.password):
        assert secret not in text
