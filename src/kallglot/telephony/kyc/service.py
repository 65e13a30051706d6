"""Company verification: bundles move draft → pending_review → approved | rejected → expired."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kallglot.core.errors import ConflictError, ValidationFailedError
from kallglot.core.ids import new_id
from kallglot.crypto import EncryptedBlobStore, decrypt_text, encrypt_field
from kallglot.telephony.carriers import BundleDocument, BundleSubmission, Carrier
from kallglot.telephony.kyc.documents import check_document
from kallglot.telephony.kyc.models import KycBundle, KycDocument
from kallglot.telephony.numbers.regulatory import requirement

STATES = ("draft", "pending_review", "approved", "rejected", "expired")
DOCUMENT_TYPES = (
    "business_registration",
    "proof_of_address",
    "government_id",
    "representative_authorization",
    "tax_certificate",
)
_YEAR = timedelta(days=365)


def create_bundle(
    session: Session,
    organization_id: str,
    *,
    country: str,
    number_type: str,
    end_user_type: str,
    carrier: str,
    details: dict[str, Any],
) -> KycBundle:
    rule = requirement(country, number_type, end_user_type)
    bundle_id = new_id("kyb")
    bundle = KycBundle(
        id=bundle_id,
        organization_id=organization_id,
        country=rule.country,
        number_type=number_type,
        end_user_type=end_user_type,
        carrier=carrier,
        status="draft",
    )
    bundle.details = _seal_details(session, bundle, details)
    session.add(bundle)
    session.flush()
    return bundle


def _seal_details(session: Session, bundle: KycBundle, details: dict[str, Any]) -> bytes:
    return encrypt_field(
        session,
        bundle.organization_id,
        "kyc_bundles",
        bundle.id,
        "details",
        json.dumps(details, sort_keys=True),
    )


def bundle_details(session: Session, bundle: KycBundle) -> dict[str, Any]:
    if bundle.details is None:
        return {}
    loaded: dict[str, Any] = json.loads(
        decrypt_text(session, "kyc_bundles", bundle.id, "details", bundle.details)
    )
    return loaded


def update_details(session: Session, bundle: KycBundle, details: dict[str, Any]) -> None:
    _require_editable(bundle)
    merged = {**bundle_details(session, bundle), **details}
    bundle.details = _seal_details(session, bundle, merged)


def _require_editable(bundle: KycBundle) -> None:
    if bundle.status not in ("draft", "rejected"):
        raise ConflictError(
            f"A bundle in state '{bundle.status}' cannot be changed.", code="kyc_bundle_locked"
        )
    bundle.status = "draft"
    bundle.rejection_reason = None


def add_document(
    session: Session,
    store: EncryptedBlobStore,
    bundle: KycBundle,
    *,
    document_type: str,
    content: bytes,
    max_bytes: int,
) -> KycDocument:
    if document_type not in DOCUMENT_TYPES:
        raise ValidationFailedError(
            "Unknown document type.", code="invalid_field_value", param="document_type"
        )
    content_type = check_document(content, max_bytes)
    _require_editable(bundle)
    blob_id = store.put(session, bundle.organization_id, content)
    document = KycDocument(
        id=new_id("kyd"),
        organization_id=bundle.organization_id,
        bundle_id=bundle.id,
        document_type=document_type,
        content_type=content_type,
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        blob_id=blob_id,
    )
    session.add(document)
    session.flush()
    return document


def documents_of(session: Session, bundle: KycBundle) -> list[KycDocument]:
    return list(
        session.scalars(
            select(KycDocument).where(KycDocument.bundle_id == bundle.id).order_by(KycDocument.id)
        )
    )


def missing_items(session: Session, bundle: KycBundle) -> list[str]:
    """Fields and documents the regulation asks for that the bundle does not have yet."""
    rule = requirement(bundle.country, bundle.number_type, bundle.end_user_type)
    details = bundle_details(session, bundle)
    have_documents = {document.document_type for document in documents_of(session, bundle)}
    missing = [f"field:{name}" for name in rule.fields if not details.get(name)]
    missing += [f"document:{name}" for name in rule.documents if name not in have_documents]
    return missing


def submit(
    session: Session,
    store: EncryptedBlobStore,
    carrier: Carrier,
    bundle: KycBundle,
    now: datetime,
    *,
    validity_days: int = 365,
    retention_years: int = 10,
) -> KycBundle:
    if bundle.status != "draft":
        raise ConflictError(
            f"Only a draft bundle can be submitted (it is '{bundle.status}').",
            code="kyc_bundle_not_draft",
        )
    missing = missing_items(session, bundle)
    if missing:
        raise ValidationFailedError(
            "The bundle is incomplete: " + ", ".join(missing) + ".", code="kyc_bundle_incomplete"
        )
    documents = [
        BundleDocument(
            document.document_type, document.content_type, store.get(session, document.blob_id)
        )
        for document in documents_of(session, bundle)
    ]
    submitted = carrier.submit_bundle(
        BundleSubmission(
            reference=bundle.id,
            country=bundle.country,
            number_type=bundle.number_type,
            end_user_type=bundle.end_user_type,
            details=bundle_details(session, bundle),
            documents=documents,
        )
    )
    bundle.carrier_ref = submitted.carrier_ref
    bundle.submitted_at = now
    bundle.status = "pending_review"
    if submitted.status in ("approved", "rejected"):
        record_decision(
            bundle,
            submitted.status,
            None,
            now,
            validity_days=validity_days,
            retention_years=retention_years,
        )
    return bundle


def record_decision(
    bundle: KycBundle,
    status: str,
    reason: str | None,
    now: datetime,
    *,
    validity_days: int,
    retention_years: int,
) -> None:
    """The carrier decided (or a bundle ran out): move the state, set the retention end date."""
    allowed = {
        "pending_review": {"approved", "rejected"},
        "approved": {"expired", "rejected"},
    }
    if status == bundle.status:
        return
    if status not in allowed.get(bundle.status, set()):
        raise ConflictError(
            f"A bundle cannot go from '{bundle.status}' to '{status}'.", code="kyc_bundle_state"
        )
    bundle.status = status
    bundle.decided_at = now
    if status == "approved":
        bundle.expires_at = now + timedelta(days=validity_days)
        bundle.retain_until = bundle.expires_at + retention_years * _YEAR
    else:
        bundle.rejection_reason = (reason or status)[:500] if status == "rejected" else None
        bundle.retain_until = now + retention_years * _YEAR


def refresh(
    bundle: KycBundle,
    carrier: Carrier,
    now: datetime,
    *,
    validity_days: int,
    retention_years: int,
) -> tuple[str, str | None] | None:
    """Ask the carrier for its decision; returns (status, reason) if the bundle moved."""
    if not bundle.carrier_ref or bundle.status not in ("pending_review", "approved"):
        return None
    status, reason = carrier.bundle_status(bundle.carrier_ref)
    if status == bundle.status or status not in ("approved", "rejected", "expired"):
        return None
    record_decision(
        bundle, status, reason, now, validity_days=validity_days, retention_years=retention_years
    )
    return status, reason


def pending(session: Session, limit: int = 500) -> list[KycBundle]:
    return list(
        session.scalars(
            select(KycBundle)
            .where(KycBundle.status == "pending_review")
            .order_by(KycBundle.id)
            .limit(limit)
        )
    )


def expire_due(session: Session, now: datetime, retention_years: int) -> list[KycBundle]:
    """Approved bundles past their expiry become ``expired``."""
    due = list(
        session.scalars(
            select(KycBundle).where(KycBundle.status == "approved", KycBundle.expires_at <= now)
        )
    )
    for bundle in due:
        record_decision(
            bundle, "expired", None, now, validity_days=0, retention_years=retention_years
        )
    return due


def approved_bundle(
    session: Session,
    organization_id: str,
    bundle_id: str | None,
    country: str,
    number_type: str,
    now: datetime,
) -> KycBundle:
    """The approved, unexpired bundle for this country and number type, or 409."""
    bundle = session.get(KycBundle, bundle_id) if bundle_id else None
    if bundle is not None and bundle.organization_id != organization_id:
        bundle = None
    if (
        bundle is None
        or bundle.status != "approved"
        or bundle.country != country
        or bundle.number_type != number_type
        or (bundle.expires_at is not None and bundle.expires_at <= now)
    ):
        raise ConflictError(
            f"A {country} {number_type} number needs an approved verification bundle "
            "for that country and number type.",
            code="kyc_bundle_not_approved",
            param="bundle_id",
        )
    return bundle
