"""Requests as Twilio sends them: form-encoded and signed with the account's auth token."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from kallglot.core.settings import Settings
from tests.telephony.conftest import TWILIO_AUTH_TOKEN

VOICE = "/v1/telephony/twilio/voice"


def post_signed(client: TestClient, settings: Settings, params: dict[str, str]) -> ET.Element:
    """POST as Twilio does: form-encoded, signed over the public URL and the parameters."""
    url = settings.public_base_url + VOICE
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(url, params)
    response = client.post(
        VOICE,
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return ET.fromstring(response.text)


def call_params(to: str) -> dict[str, str]:
    return {
        "CallSid": "CA" + "0" * 32,
        "AccountSid": "AC" + "1" * 32,
        "From": "+4915100000001",
        "To": to,
    }


def start_event(token: str) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": "MZ" + "0" * 32,
            "start": {
                "streamSid": "MZ" + "0" * 32,
                "callSid": "CA" + "0" * 32,
                "tracks": ["inbound"],
                "customParameters": {"token": token},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )
