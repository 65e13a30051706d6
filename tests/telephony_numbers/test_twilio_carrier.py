"""The Twilio carrier through the official SDK, against a local server answering like Twilio."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from kallglot.core.errors import UpstreamError
from kallglot.telephony.carriers.twilio_carrier import TwilioCarrier
from tests.telephony_numbers.conftest import ACCOUNT_SID

API = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
PN = "PN" + "a" * 32


def _carrier(httpserver: HTTPServer) -> TwilioCarrier:
    return TwilioCarrier(ACCOUNT_SID, "token", base_url=httpserver.url_for("").rstrip("/"))


def test_search_configure_and_release(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(
        f"{API}/AvailablePhoneNumbers/DE/Local.json", method="GET"
    ).respond_with_json(
        {
            "available_phone_numbers": [
                {
                    "friendly_name": "+49 30 1234567",
                    "phone_number": "+49301234567",
                    "locality": "Berlin",
                    "iso_country": "DE",
                    "address_requirements": "local",
                    "capabilities": {"voice": True, "SMS": False, "MMS": False},
                }
            ],
            "uri": f"{API}/AvailablePhoneNumbers/DE/Local.json",
        }
    )
    httpserver.expect_ordered_request(
        f"{API}/IncomingPhoneNumbers/{PN}.json", method="POST"
    ).respond_with_json({"sid": PN, "phone_number": "+49301234567", "voice_url": "https://x/v"})
    httpserver.expect_ordered_request(
        f"{API}/IncomingPhoneNumbers/{PN}.json", method="DELETE"
    ).respond_with_data("", status=204)

    carrier = _carrier(httpserver)
    found = carrier.search("DE", "local", contains="301")
    assert [(n.e164, n.locality) for n in found] == [("+49301234567", "Berlin")]
    search = httpserver.log[0][0]
    assert search.args["Contains"] == "301"
    assert search.args["VoiceEnabled"] == "true"
    assert search.authorization is not None
    assert search.authorization.username == ACCOUNT_SID
    carrier.configure_voice(PN, "https://x/v")
    assert httpserver.log[1][0].form["VoiceUrl"] == "https://x/v"
    assert httpserver.log[1][0].form["VoiceMethod"] == "POST"
    carrier.release(PN)
    httpserver.check_assertions()


def test_requirements_come_from_the_regulations_api(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/v2/RegulatoryCompliance/Regulations", method="GET"
    ).respond_with_json(
        {
            "results": [
                {
                    "sid": "RN" + "b" * 32,
                    "friendly_name": "Germany: Local - Business",
                    "iso_country": "DE",
                    "number_type": "local",
                    "end_user_type": "business",
                    "requirements": {
                        "end_user": [
                            {"name": "Business", "type": "business", "fields": ["business_name"]}
                        ],
                        "supporting_document": [],
                    },
                }
            ],
            "meta": {"page": 0, "page_size": 50, "key": "results", "next_page_url": None},
        }
    )
    rules = _carrier(httpserver).requirements("DE", "toll_free", "business")
    assert rules is not None
    assert rules["source"] == "twilio"
    assert rules["end_user"][0]["fields"] == ["business_name"]
    query = httpserver.log[0][0].args
    assert (query["IsoCountry"], query["NumberType"], query["EndUserType"]) == (
        "DE",
        "toll-free",
        "business",
    )


def test_carrier_errors_do_not_leak_request_data(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"{API}/IncomingPhoneNumbers.json", method="POST").respond_with_json(
        {"code": 21422, "message": "PhoneNumber +49301234567 is not available", "status": 400},
        status=400,
    )
    with pytest.raises(UpstreamError) as raised:
        _carrier(httpserver).order("+49301234567", bundle_ref=None, voice_url="https://x/v")
    assert "49301234567" not in raised.value.message
    assert raised.value.code == "carrier_error"
