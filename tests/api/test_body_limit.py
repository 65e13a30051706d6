"""Request bodies are bounded (issue 20, finding 10): every route refuses a body over
``max_request_bytes`` with a 413 envelope before parsing it, announced or chunked; the KYC
document upload alone takes files up to ``kyc_max_document_bytes``."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.testclient import TestClient

from kallglot.accounts.permissions import Role
from tests.factories import Identity
from tests.telephony_numbers.kyc_details import DETAILS

PDF_HEAD = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n"


def _refused(response: object) -> None:
    assert getattr(response, "status_code", None) == 413, getattr(response, "text", response)
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == "payload_too_large"
    assert error["type"] == "invalid_request_error"


def _json_of_size(size: int) -> bytes:
    padding = size - len(b'{"url":"","events":[]}')
    return b'{"url":"' + b"a" * padding + b'","events":[]}'


def test_default_limit_is_small(app: FastAPI) -> None:
    assert app.state.settings.max_request_bytes == 1024 * 1024


def test_a_body_over_the_limit_is_413_on_every_kind_of_route(
    app: FastAPI, identity: Identity
) -> None:
    limit = app.state.settings.max_request_bytes
    owner = identity.client_as(Role.OWNER)
    anonymous = identity.client()
    headers = {"content-type": "application/json"}
    _refused(owner.post("/v1/webhooks", content=_json_of_size(limit + 1), headers=headers))
    _refused(anonymous.post("/v1/auth/signup", content=_json_of_size(20 * limit), headers=headers))
    # A body no larger than the limit is parsed as usual (and found invalid here).
    assert (
        owner.post("/v1/webhooks", content=_json_of_size(limit), headers=headers).status_code == 422
    )


def test_a_chunked_body_is_counted_as_it_arrives(app: FastAPI, identity: Identity) -> None:
    limit = app.state.settings.max_request_bytes
    owner = identity.client_as(Role.OWNER)

    def chunks() -> Iterator[bytes]:
        body = _json_of_size(2 * limit)
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = owner.post(
        "/v1/webhooks", content=chunks(), headers={"content-type": "application/json"}
    )
    _refused(response)


def test_kyc_documents_may_exceed_the_default_limit_up_to_their_own(
    app: FastAPI, identity: Identity
) -> None:
    settings = app.state.settings
    owner: TestClient = identity.client_as(Role.OWNER)
    bundle = owner.post(
        "/v1/kyc/bundles",
        json={
            "country": "DE",
            "number_type": "local",
            "end_user_type": "business",
            "details": DETAILS,
        },
    )
    assert bundle.status_code == 201, bundle.text
    docs = f"/v1/kyc/bundles/{bundle.json()['id']}/documents?document_type=business_registration"
    pdf = PDF_HEAD + b"%" + b"0" * (2 * settings.max_request_bytes) + b"\n%%EOF\n"
    assert settings.max_request_bytes < len(pdf) <= settings.kyc_max_document_bytes
    uploaded = owner.post(docs, content=pdf, headers={"content-type": "application/pdf"})
    assert uploaded.status_code == 201, uploaded.text
    _refused(owner.post(docs, content=b"%PDF-1.4\n" + b"0" * settings.kyc_max_document_bytes))
