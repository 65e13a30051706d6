"""The Telnyx carrier through the official SDK, against a local server answering like Telnyx."""

from __future__ import annotations

import json

from pytest_httpserver import HTTPServer

from kallglot.telephony.carriers import BundleDocument, BundleSubmission
from kallglot.telephony.carriers.telnyx_carrier import TelnyxCarrier

PDF = b"%PDF-1.4\n%%EOF\n"


def _carrier(httpserver: HTTPServer) -> TelnyxCarrier:
    return TelnyxCarrier("KEY_test", base_url=httpserver.url_for("/v2"), connection_id="1234")


def test_search_order_and_release(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(
        "/v2/available_phone_numbers", method="GET"
    ).respond_with_json(
        {
            "data": [
                {
                    "record_type": "available_phone_number",
                    "phone_number": "+4930555000111",
                    "cost_information": {
                        "monthly_cost": "1.00",
                        "upfront_cost": "1.00",
                        "currency": "USD",
                    },
                    "region_information": [{"region_type": "location", "region_name": "Berlin"}],
                    "features": [{"name": "voice"}],
                }
            ],
            "metadata": {"total_results": 1},
        }
    )
    httpserver.expect_ordered_request("/v2/number_orders", method="POST").respond_with_json(
        {
            "data": {
                "id": "12ade33a-21c0-473b-b055-b3c836e1c292",
                "record_type": "number_order",
                "status": "pending",
                "phone_numbers_count": 1,
                "phone_numbers": [
                    {
                        "id": "dc8e4d67-33a0-4629-a4c8-ba0b2e3c1a5e",
                        "phone_number": "+4930555000111",
                        "status": "pending",
                    }
                ],
            }
        }
    )
    httpserver.expect_ordered_request("/v2/phone_numbers", method="GET").respond_with_json(
        {
            "data": [
                {
                    "id": "1293384261075731499",
                    "record_type": "phone_number",
                    "phone_number": "+4930555000111",
                    "status": "active",
                }
            ],
            "meta": {"total_results": 1, "page_number": 1, "page_size": 20, "total_pages": 1},
        }
    )
    httpserver.expect_ordered_request(
        "/v2/phone_numbers/1293384261075731499", method="DELETE"
    ).respond_with_json({"data": {"id": "1293384261075731499", "status": "deleted"}})

    carrier = _carrier(httpserver)
    found = carrier.search("DE", "local", contains="555")
    assert found[0].e164 == "+4930555000111"
    assert found[0].monthly_price_cents == 100
    assert found[0].locality == "Berlin"
    search = httpserver.log[0][0]
    assert search.args["filter[country_code]"] == "DE"
    assert search.args["filter[phone_number_type]"] == "local"
    assert search.headers["Authorization"] == "Bearer KEY_test"

    ordered = carrier.order("+4930555000111", bundle_ref="rg-1", voice_url="https://x/voice")
    assert ordered.carrier_ref == "+4930555000111"
    body = json.loads(httpserver.log[1][0].data)
    assert body == {
        "phone_numbers": [{"phone_number": "+4930555000111", "requirement_group_id": "rg-1"}],
        "connection_id": "1234",
    }
    carrier.release(ordered.carrier_ref)
    httpserver.check_assertions()
    assert httpserver.log[2][0].args["filter[phone_number]"] == "+4930555000111"


def test_bundle_becomes_a_requirement_group(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/v2/documents", method="POST").respond_with_json(
        {
            "data": {
                "id": "6a09cdc3-8948-47f0-aa62-74ac943d6c58",
                "record_type": "document",
                "status": "pending",
            }
        }
    )
    httpserver.expect_ordered_request("/v2/requirements", method="GET").respond_with_json(
        {
            "data": [
                {
                    "id": "req-de-local",
                    "country_code": "DE",
                    "phone_number_type": "local",
                    "action": "ordering",
                    "record_type": "requirement",
                    "requirement_types": [
                        {"id": "rt-name", "name": "Company Name", "type": "textual"},
                        {"id": "rt-reg", "name": "Business Registration", "type": "document"},
                    ],
                }
            ]
        }
    )
    httpserver.expect_ordered_request("/v2/requirement_groups", method="POST").respond_with_json(
        {
            "id": "rg-42",
            "status": "unapproved",
            "country_code": "DE",
            "phone_number_type": "local",
            "action": "ordering",
            "record_type": "requirement_group",
        }
    )
    httpserver.expect_ordered_request(
        "/v2/requirement_groups/rg-42/submit_for_approval", method="POST"
    ).respond_with_json({"id": "rg-42", "status": "pending-approval"})
    httpserver.expect_ordered_request(
        "/v2/requirement_groups/rg-42", method="GET"
    ).respond_with_json({"id": "rg-42", "status": "declined"})

    carrier = _carrier(httpserver)
    submitted = carrier.submit_bundle(
        BundleSubmission(
            reference="kyb_1",
            country="DE",
            number_type="local",
            end_user_type="business",
            details={"company_name": "Acme GmbH"},
            documents=[BundleDocument("business_registration", "application/pdf", PDF)],
        )
    )
    assert submitted.carrier_ref == "rg-42"
    assert submitted.status == "pending_review"
    group = json.loads(httpserver.log[2][0].data)
    assert group["country_code"] == "DE"
    assert group["action"] == "ordering"
    assert {"requirement_id": "rt-name", "field_value": "Acme GmbH"} in group[
        "regulatory_requirements"
    ]
    assert {
        "requirement_id": "rt-reg",
        "field_value": "6a09cdc3-8948-47f0-aa62-74ac943d6c58",
    } in group["regulatory_requirements"]
    assert carrier.bundle_status("rg-42") == ("rejected", "declined by the carrier")
    httpserver.check_assertions()
