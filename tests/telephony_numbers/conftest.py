"""Carriers pointed at a local HTTP server (pytest-httpserver) that answers like the real APIs."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer

from kallglot.core.settings import Settings

ACCOUNT_SID = "AC" + "0" * 32


@pytest.fixture
def carrier_settings(settings: Settings, httpserver: HTTPServer) -> Settings:
    """Twilio and Telnyx configured to talk to the local server only."""
    settings.twilio_account_sid = ACCOUNT_SID
    settings.twilio_auth_token = SecretStr("test-token")
    settings.twilio_base_url = httpserver.url_for("").rstrip("/")
    settings.telnyx_api_key = SecretStr("KEY_test")
    settings.telnyx_base_url = httpserver.url_for("/v2")
    settings.default_carrier = "twilio"
    return settings
