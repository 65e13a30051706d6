"""``/v1/phone-numbers``, ``/v1/regulatory-requirements`` and ``/v1/kyc/bundles``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from kallglot import audit
from kallglot.accounts.dependencies import require
from kallglot.accounts.isolation import get_for_organization
from kallglot.accounts.permissions import Permission
from kallglot.accounts.principal import Principal
from kallglot.core.clock import utcnow
from kallglot.core.errors import ValidationFailedError
from kallglot.crypto import EncryptedBlobStore
from kallglot.http.body_limits import larger_body
from kallglot.http.deps import AppSettings, DbSession
from kallglot.http.pagination import Page, Pagination, paginate
from kallglot.telephony.carriers import carrier_from_settings
from kallglot.telephony.kyc import service as kyc
from kallglot.telephony.kyc.models import KycBundle
from kallglot.telephony.numbers import regulatory
from kallglot.telephony.numbers import service as numbers
from kallglot.telephony.numbers.models import PhoneNumber
from kallglot.telephony.numbers.schemas import (
    AvailableNumberOut,
    BundleIn,
    BundleOut,
    BundleUpdateIn,
    DocumentOut,
    NumberOrderIn,
    NumberOut,
    NumberSearchIn,
    NumberType,
    NumberUpdateIn,
    RequirementOut,
)
from kallglot.telephony.routing.models import Queue

router = APIRouter(prefix="/v1", tags=["numbers"])


def _number_out(number: PhoneNumber) -> NumberOut:
    out = NumberOut.model_validate(number)
    out.auto_detect_language = not number.languages
    return out


@router.get("/regulatory-requirements", summary="What a number needs, per country and type")
def list_requirements(
    principal: Annotated[Principal, require(Permission.NUMBERS_READ)],
    country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
    number_type: NumberType | None = None,
) -> list[RequirementOut]:
    types = [number_type] if number_type else ["local", "national", "mobile", "toll_free"]
    chosen = [country.upper()] if country else regulatory.countries()
    return [
        RequirementOut(
            **{**vars(rule), "fields": list(rule.fields), "documents": list(rule.documents)}
        )
        for code in chosen
        for kind in types
        for end_user in ("business", "individual")
        for rule in [regulatory.requirement(code, kind, end_user)]
    ]


@router.post("/phone-numbers/search", summary="Search numbers a carrier offers")
def search_numbers(
    body: NumberSearchIn,
    principal: Annotated[Principal, require(Permission.NUMBERS_WRITE)],
    settings: AppSettings,
) -> list[AvailableNumberOut]:
    found = carrier_from_settings(settings, body.carrier or settings.default_carrier).search(
        body.country.upper(), body.number_type, contains=body.contains
    )
    return [AvailableNumberOut(**vars(item)) for item in found]


@router.get("/phone-numbers", summary="The organization's numbers, newest first")
def list_numbers(
    principal: Annotated[Principal, require(Permission.NUMBERS_READ)],
    db: DbSession,
    page: Pagination,
) -> Page[NumberOut]:
    statement = select(PhoneNumber).where(PhoneNumber.organization_id == principal.organization_id)
    return paginate(db, statement, PhoneNumber.id, page, _number_out)


@router.post("/phone-numbers", status_code=201, summary="Order (or register) a number")
def order_number(
    body: NumberOrderIn,
    principal: Annotated[Principal, require(Permission.NUMBERS_WRITE)],
    db: DbSession,
    settings: AppSettings,
) -> NumberOut:
    carrier = carrier_from_settings(settings, body.carrier or settings.default_carrier)
    number = numbers.order(
        db,
        principal.organization_id,
        carrier,
        e164=body.e164,
        country=body.country,
        number_type=body.number_type,
        bundle_id=body.bundle_id,
        voice_url=f"{settings.public_base_url.rstrip('/')}/v1/telephony/{carrier.name}/voice",
        monthly_price_cents=body.monthly_price_cents,
        currency=body.currency,
        now=utcnow(),
    )
    audit.record(
        db,
        principal,
        "number.provisioned",
        target=("phone_number", number.id),
        changes={
            "country": number.country,
            "number_type": number.number_type,
            "carrier": number.carrier,
            "bundle_id": number.bundle_id,
        },
    )
    return _number_out(number)


@router.get("/phone-numbers/{number_id}", summary="Retrieve a number")
def get_number(
    number_id: str,
    principal: Annotated[Principal, require(Permission.NUMBERS_READ)],
    db: DbSession,
) -> NumberOut:
    return _number_out(
        get_for_organization(
            db, PhoneNumber, number_id, principal.organization_id, what="phone number"
        )
    )


@router.patch("/phone-numbers/{number_id}", summary="Assign a queue and expected languages")
def update_number(
    number_id: str,
    body: NumberUpdateIn,
    principal: Annotated[Principal, require(Permission.NUMBERS_WRITE)],
    db: DbSession,
) -> NumberOut:
    number = get_for_organization(
        db, PhoneNumber, number_id, principal.organization_id, what="phone number"
    )
    changes: dict[str, Any] = {}
    if "queue_id" in body.model_fields_set:
        if body.queue_id is not None:
            get_for_organization(db, Queue, body.queue_id, principal.organization_id, what="queue")
        number.queue_id = body.queue_id
        changes["queue_id"] = body.queue_id
    if body.languages is not None:
        languages = [code.lower() for code in body.languages]
        if any(len(code) not in (2, 3) or not code.isalpha() for code in languages):
            raise ValidationFailedError(
                "Languages are ISO 639-1 codes.", param="languages", code="invalid_language_code"
            )
        number.languages = languages
        changes["languages"] = languages
    audit.record(
        db, principal, "number.updated", target=("phone_number", number.id), changes=changes
    )
    return _number_out(number)


@router.post("/phone-numbers/{number_id}/release", summary="Release a number")
def release_number(
    number_id: str,
    principal: Annotated[Principal, require(Permission.NUMBERS_WRITE)],
    db: DbSession,
    settings: AppSettings,
) -> NumberOut:
    number = get_for_organization(
        db, PhoneNumber, number_id, principal.organization_id, what="phone number"
    )
    numbers.release(carrier_from_settings(settings, number.carrier), number, utcnow())
    audit.record(db, principal, "number.released", target=("phone_number", number.id))
    return _number_out(number)


def _bundle_out(db: DbSession, bundle: KycBundle) -> BundleOut:
    out = BundleOut.model_validate(bundle)
    out.documents = [DocumentOut.model_validate(doc) for doc in kyc.documents_of(db, bundle)]
    out.missing = kyc.missing_items(db, bundle) if bundle.status == "draft" else []
    return out


@router.get("/kyc/bundles", summary="Verification bundles, newest first")
def list_bundles(
    principal: Annotated[Principal, require(Permission.KYC_READ)],
    db: DbSession,
    page: Pagination,
) -> Page[BundleOut]:
    statement = select(KycBundle).where(KycBundle.organization_id == principal.organization_id)
    return paginate(db, statement, KycBundle.id, page, lambda bundle: _bundle_out(db, bundle))


@router.post("/kyc/bundles", status_code=201, summary="Start a verification bundle")
def create_bundle(
    body: BundleIn,
    principal: Annotated[Principal, require(Permission.KYC_WRITE)],
    db: DbSession,
    settings: AppSettings,
) -> BundleOut:
    bundle = kyc.create_bundle(
        db,
        principal.organization_id,
        country=body.country,
        number_type=body.number_type,
        end_user_type=body.end_user_type,
        carrier=body.carrier or settings.default_carrier,
        details=body.details.model_dump(exclude_none=True),
    )
    audit.record(
        db,
        principal,
        "kyc.bundle_created",
        target=("kyc_bundle", bundle.id),
        changes={"country": bundle.country, "number_type": bundle.number_type},
    )
    return _bundle_out(db, bundle)


@router.get("/kyc/bundles/{bundle_id}", summary="Retrieve a bundle")
def get_bundle(
    bundle_id: str,
    principal: Annotated[Principal, require(Permission.KYC_READ)],
    db: DbSession,
) -> BundleOut:
    bundle = get_for_organization(
        db, KycBundle, bundle_id, principal.organization_id, what="kyc bundle"
    )
    return _bundle_out(db, bundle)


@router.patch("/kyc/bundles/{bundle_id}", summary="Change a draft bundle's company details")
def update_bundle(
    bundle_id: str,
    body: BundleUpdateIn,
    principal: Annotated[Principal, require(Permission.KYC_WRITE)],
    db: DbSession,
) -> BundleOut:
    bundle = get_for_organization(
        db, KycBundle, bundle_id, principal.organization_id, what="kyc bundle"
    )
    details = body.details.model_dump(exclude_none=True)
    kyc.update_details(db, bundle, details)
    audit.record(
        db,
        principal,
        "kyc.bundle_updated",
        target=("kyc_bundle", bundle.id),
        changes={"fields": sorted(details)},
    )
    return _bundle_out(db, bundle)


async def _raw_body(request: Request) -> bytes:
    return await request.body()


@router.post(
    "/kyc/bundles/{bundle_id}/documents",
    status_code=201,
    summary="Upload a document (the request body is the file: PDF, JPEG or PNG)",
    openapi_extra=larger_body("kyc_max_document_bytes"),
)
def upload_document(
    bundle_id: str,
    principal: Annotated[Principal, require(Permission.KYC_WRITE)],
    db: DbSession,
    settings: AppSettings,
    content: Annotated[bytes, Depends(_raw_body)],
    document_type: Annotated[
        str, Query(max_length=40, pattern=r"^[a-z_]+$")
    ] = "business_registration",
) -> DocumentOut:
    bundle = get_for_organization(
        db, KycBundle, bundle_id, principal.organization_id, what="kyc bundle"
    )
    document = kyc.add_document(
        db,
        EncryptedBlobStore.from_settings(settings),
        bundle,
        document_type=document_type,
        content=content,
        max_bytes=settings.kyc_max_document_bytes,
    )
    audit.record(
        db,
        principal,
        "kyc.document_uploaded",
        target=("kyc_bundle", bundle.id),
        changes={
            "document_id": document.id,
            "document_type": document_type,
            "content_type": document.content_type,
            "size": document.size_bytes,
        },
    )
    return DocumentOut.model_validate(document)


@router.post("/kyc/bundles/{bundle_id}/submit", summary="Submit the bundle to the carrier")
def submit_bundle(
    bundle_id: str,
    principal: Annotated[Principal, require(Permission.KYC_WRITE)],
    db: DbSession,
    settings: AppSettings,
) -> BundleOut:
    bundle = get_for_organization(
        db, KycBundle, bundle_id, principal.organization_id, what="kyc bundle"
    )
    kyc.submit(
        db,
        EncryptedBlobStore.from_settings(settings),
        carrier_from_settings(settings, bundle.carrier),
        bundle,
        utcnow(),
        validity_days=settings.kyc_bundle_validity_days,
        retention_years=settings.kyc_retention_years,
    )
    audit.record(
        db,
        principal,
        "kyc.submitted",
        target=("kyc_bundle", bundle.id),
        changes={"status": bundle.status, "carrier": bundle.carrier},
    )
    return _bundle_out(db, bundle)


@router.post("/kyc/bundles/{bundle_id}/refresh", summary="Ask the carrier for its decision")
def refresh_bundle(
    bundle_id: str,
    principal: Annotated[Principal, require(Permission.KYC_WRITE)],
    db: DbSession,
    settings: AppSettings,
) -> BundleOut:
    bundle = get_for_organization(
        db, KycBundle, bundle_id, principal.organization_id, what="kyc bundle"
    )
    moved = kyc.refresh(
        bundle,
        carrier_from_settings(settings, bundle.carrier),
        utcnow(),
        validity_days=settings.kyc_bundle_validity_days,
        retention_years=settings.kyc_retention_years,
    )
    if moved is not None:
        audit.record(
            db,
            principal,
            "kyc.decided",
            target=("kyc_bundle", bundle.id),
            changes={"status": moved[0], "reason": moved[1]},
        )
    return _bundle_out(db, bundle)


@router.get("/caller-ids", summary="The active numbers an agent may call out from")
def caller_ids(
    principal: Annotated[Principal, require(Permission.CALLS_ANSWER)],
    db: DbSession,
    page: Pagination,
) -> Page[NumberOut]:
    """What ``POST /v1/calls/outbound`` accepts as ``from_number_id``: for whoever may place
    calls, also without ``numbers:read`` (the agent console's dial form lists them)."""
    statement = select(PhoneNumber).where(
        PhoneNumber.organization_id == principal.organization_id, PhoneNumber.status == "active"
    )
    return paginate(db, statement, PhoneNumber.id, page, _number_out)
