"""The media-stream URL handed to a carrier: wss behind https; never ws:// in production."""

from __future__ import annotations

import pytest

from kallglot.core.errors import ServiceUnavailableError
from kallglot.telephony.inbound import stream_url

PATH = "/v1/telephony/twilio/media/sess_1"


def test_https_becomes_wss_and_http_ws_outside_production() -> None:
    assert stream_url("https://calls.example.com/", PATH) == f"wss://calls.example.com{PATH}"
    assert stream_url("http://127.0.0.1:8000", PATH) == f"ws://127.0.0.1:8000{PATH}"
    assert stream_url("https://calls.example.com", PATH, production=True).startswith("wss://")


def test_production_refuses_to_hand_a_carrier_an_unencrypted_stream() -> None:
    with pytest.raises(ServiceUnavailableError) as refused:
        stream_url("http://calls.example.com", PATH, production=True)
    assert refused.value.code == "insecure_stream_url"
