"""Telephony transport tests: a signed Twilio setup and the realtime tests' live server."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from kallglot.core.settings import Settings
from tests.realtime.conftest import live_server, organization_id  # noqa: F401 - fixtures

TWILIO_AUTH_TOKEN = "12345678901234567890123456789012"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "twilio_auth_token": SecretStr(TWILIO_AUTH_TOKEN),
            "telephony_media_idle_seconds": 1.5,
        }
    )
