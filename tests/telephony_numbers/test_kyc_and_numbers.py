"""A German local number needs an approved business bundle; documents are checked by content."""

from __future__ import annotations

import json
import struct
import zlib

from pytest_httpserver import HTTPServer
from sqlalchemy import select

from kallglot.accounts.permissions import Role
from kallglot.core.settings import Settings
from kallglot.telephony.numbers.models import NumberRental
from tests.conftest import MigratedDatabase
from tests.factories import Identity
from tests.telephony_numbers.conftest import ACCOUNT_SID
from tests.telephony_numbers.kyc_details import DETAILS

RC = "/v2/RegulatoryCompliance"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
# A Windows executable's header, renamed to look like a passport scan.
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


def _expect_twilio_bundle(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(f"{RC}/EndUsers", method="POST").respond_with_json(
        {"sid": "IT" + "1" * 32, "type": "business", "attributes": {}}, status=201
    )
    for index in ("2", "3"):
        httpserver.expect_ordered_request(
            f"{RC}/SupportingDocuments", method="POST"
        ).respond_with_json({"sid": "RD" + index * 32, "status": "draft"}, status=201)
    httpserver.expect_ordered_request(f"{RC}/Bundles", method="POST").respond_with_json(
        {"sid": "BU" + "4" * 32, "status": "draft"}, status=201
    )
    for _ in range(3):
        httpserver.expect_ordered_request(
            f"{RC}/Bundles/BU{'4' * 32}/ItemAssignments", method="POST"
        ).respond_with_json({"sid": "BV" + "5" * 32, "bundle_sid": "BU" + "4" * 32}, status=201)
    httpserver.expect_ordered_request(
        f"{RC}/Bundles/BU{'4' * 32}/Evaluations", method="POST"
    ).respond_with_json({"sid": "EL" + "6" * 32, "status": "compliant", "results": []}, status=201)
    httpserver.expect_ordered_request(
        f"{RC}/Bundles/BU{'4' * 32}", method="POST"
    ).respond_with_json({"sid": "BU" + "4" * 32, "status": "pending-review"})


def test_german_local_number_needs_an_approved_business_bundle(
    identity: Identity,
    carrier_settings: Settings,
    httpserver: HTTPServer,
    database: MigratedDatabase,
) -> None:
    org = identity.organization()
    admin = identity.client_as(Role.OWNER, org)
    order = {"e164": "+49 30 1234567", "country": "DE", "number_type": "local"}

    refused = admin.post("/v1/phone-numbers", json=order)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "kyc_bundle_not_approved"

    bundle = admin.post(
        "/v1/kyc/bundles",
        json={
            "country": "DE",
            "number_type": "local",
            "end_user_type": "business",
            "details": DETAILS,
        },
    ).json()
    assert bundle["status"] == "draft"
    assert "document:business_registration" in bundle["missing"]

    docs = f"/v1/kyc/bundles/{bundle['id']}/documents"
    exe = admin.post(
        f"{docs}?document_type=government_id&filename=passport.pdf",
        content=EXE,
        headers={"Content-Type": "application/pdf"},
    )
    assert exe.status_code == 422
    assert exe.json()["error"]["code"] == "document_type_not_allowed"
    assert admin.post(f"{docs}?document_type=business_registration", content=PDF).status_code == 201
    png = admin.post(f"{docs}?document_type=proof_of_address", content=_png())
    assert png.json()["content_type"] == "image/png"

    # Still a draft: ordering is refused with the draft bundle too.
    order["bundle_id"] = bundle["id"]
    assert admin.post("/v1/phone-numbers", json=order).status_code == 409

    _expect_twilio_bundle(httpserver)
    submitted = admin.post(f"/v1/kyc/bundles/{bundle['id']}/submit")
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "pending_review"
    httpserver.check_assertions()
    end_user = httpserver.log[0][0]
    assert end_user.form["Type"] == "business"
    assert json.loads(end_user.form["Attributes"])["business_name"] == "Acme Dolmetscher GmbH"
    created = httpserver.log[3][0]
    assert created.form["IsoCountry"] == "DE"
    assert created.form["NumberType"] == "local"
    assert created.form["EndUserType"] == "business"
    assert admin.post("/v1/phone-numbers", json=order).status_code == 409

    httpserver.clear()
    httpserver.expect_request(f"{RC}/Bundles/BU{'4' * 32}", method="GET").respond_with_json(
        {"sid": "BU" + "4" * 32, "status": "twilio-approved"}
    )
    assert admin.post(f"/v1/kyc/bundles/{bundle['id']}/refresh").json()["status"] == "approved"

    httpserver.expect_request(
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json", method="POST"
    ).respond_with_json({"sid": "PN" + "7" * 32, "phone_number": "+49301234567"}, status=201)
    order["monthly_price_cents"] = 100
    ordered = admin.post("/v1/phone-numbers", json=order)
    assert ordered.status_code == 201, ordered.text
    assert ordered.json()["e164"] == "+49301234567"
    purchase = httpserver.log[-1][0]
    assert purchase.form["BundleSid"] == "BU" + "4" * 32
    assert purchase.form["VoiceUrl"].endswith("/v1/telephony/twilio/voice")
    with database.sessions() as db:
        rentals = db.scalars(select(NumberRental)).all()
        assert [rental.amount_cents for rental in rentals] == [100]

    actions = [event["action"] for event in admin.get("/v1/audit-events?limit=50").json()["data"]]
    for action in (
        "kyc.bundle_created",
        "kyc.document_uploaded",
        "kyc.submitted",
        "kyc.decided",
        "number.provisioned",
    ):
        assert action in actions


def test_documents_are_encrypted_at_rest(identity: Identity, carrier_settings: Settings) -> None:
    admin = identity.client_as(Role.OWNER)
    bundle = admin.post(
        "/v1/kyc/bundles",
        json={"country": "DE", "number_type": "local", "end_user_type": "business"},
    ).json()
    assert (
        admin.post(
            f"/v1/kyc/bundles/{bundle['id']}/documents?document_type=business_registration",
            content=PDF,
        ).status_code
        == 201
    )
    blobs = [path for path in carrier_settings.effective_blob_dir.rglob("*") if path.is_file()]
    assert blobs
    assert all(b"%PDF" not in path.read_bytes() for path in blobs)


def test_sip_trunk_numbers_are_registered_without_a_bundle(
    identity: Identity, carrier_settings: Settings
) -> None:
    admin = identity.client_as(Role.ADMIN)
    registered = admin.post(
        "/v1/phone-numbers",
        json={
            "e164": "+49301234568",
            "country": "DE",
            "number_type": "local",
            "carrier": "sip_trunk",
        },
    )
    assert registered.status_code == 201, registered.text
    number = registered.json()
    assert number["auto_detect_language"] is True
    patched = admin.patch(f"/v1/phone-numbers/{number['id']}", json={"languages": ["de", "tr"]})
    assert patched.json()["languages"] == ["de", "tr"]
    released = admin.post(f"/v1/phone-numbers/{number['id']}/release")
    assert released.json()["status"] == "released"


def test_requirements_mark_unknowns(identity: Identity) -> None:
    client = identity.client_as(Role.SUPERVISOR)
    rules = client.get("/v1/regulatory-requirements?country=BR").json()
    assert {rule["status"] for rule in rules} == {"unknown"}
    de = client.get("/v1/regulatory-requirements?country=DE&number_type=local").json()
    business = next(rule for rule in de if rule["end_user_type"] == "business")
    assert business["bundle_required"] is True
    assert business["source"] and business["date"]
