"""Data-subject requests: access, portability, rectification, erasure, restriction, objection.

A request is due one month after receipt and may be extended by up to two more months with a
recorded reason (GDPR Art. 12(3)). Every step writes an audit record. The subject's email or
phone number is stored only encrypted under the subject's own data key, so an erasure
crypto-shreds it together with everything else encrypted for that subject.
"""

from __future__ import annotations

import calendar
import csv
import hashlib
import hmac
import io
import json
import secrets
import zipfile
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from kallglot.accounts.models import User
from kallglot.audit import log as audit
from kallglot.audit.log import Actor
from kallglot.core.clock import utcnow
from kallglot.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationFailedError,
)
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings
from kallglot.crypto import (
    EncryptedBlobStore,
    decrypt_text,
    email_lookup_hash,
    encrypt_field,
    get_keyring,
    normalize_e164,
    normalize_email,
    phone_lookup_hash,
)
from kallglot.db.engine import transaction
from kallglot.mail import sender as mail
from kallglot.mail.secrets import CODE, SECRET, mailed_secret
from kallglot.privacy.erasure_ledger import ErasureEntry, ErasureLedger
from kallglot.privacy.models import ProcessingLimit, SubjectRequest
from kallglot.privacy.retention import active_legal_holds, place_legal_hold
from kallglot.privacy.subjects import (
    Erased,
    Exported,
    Holds,
    StoreContext,
    Subject,
    SubjectStore,
    organization_user_by_email,
    subject_stores,
    user_in_organization,
)
from kallglot.realtime.models import TranscriptTurn
from kallglot.realtime.transcripts import seal_turn_text
from kallglot.telephony.calls.models import CallRecord

TABLE = SubjectRequest.__tablename__
CODE_TTL = timedelta(minutes=30)
MAX_CODE_ATTEMPTS = 5
EXPORT_TTL = timedelta(days=7)
MAX_EXTENSION_MONTHS = 2
ACCOUNT_FIELDS = frozenset({"name", "phone_number"})
RESTRICTION_HOLD_PREFIX = "restriction of processing ("


class RequestType(StrEnum):
    ACCESS = "access"
    PORTABILITY = "portability"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    RESTRICTION = "restriction"
    OBJECTION = "objection"


class RequestStatus(StrEnum):
    RECEIVED = "received"
    VERIFYING = "verifying"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"
    EXTENDED = "extended"


class Purpose(StrEnum):
    """What personal data is processed for. Objection covers the legitimate-interest ones."""

    SERVICE = "service_delivery"
    RECORDING = "recording"
    ANALYTICS = "analytics"
    QUALITY_SAMPLING = "quality_sampling"
    PRODUCT_IMPROVEMENT = "product_improvement"


LEGITIMATE_INTEREST = (Purpose.ANALYTICS, Purpose.QUALITY_SAMPLING, Purpose.PRODUCT_IMPROVEMENT)
ALL_PROCESSING = "all"
CLOSED = frozenset({RequestStatus.COMPLETED, RequestStatus.REJECTED})


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` later (the month's last day when it is shorter)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# --- opening and verifying ------------------------------------------------------------------


def open_request(
    session: Session,
    organization_id: str,
    request_type: RequestType,
    actor: Actor,
    *,
    user_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> SubjectRequest:
    """Record a request about exactly one of: a user, an email address, a phone number."""
    if sum(value is not None for value in (user_id, email, phone)) != 1:
        raise ValidationFailedError(
            "name the subject by exactly one of user_id, email, phone", param="subject"
        )
    request_id, now = new_id("dsr"), utcnow()
    request = SubjectRequest(
        id=request_id,
        organization_id=organization_id,
        type=request_type.value,
        status=RequestStatus.RECEIVED.value,
        received_at=now,
        due_at=add_months(now, 1),
        requested_by=actor.actor_id,
    )
    if user_id is not None:
        # Another organization's user is not this organization's subject: the same 404 as an
        # unknown id, so ids of other organizations cannot be probed.
        if session.get(User, user_id) is None or not user_in_organization(
            session, organization_id, user_id
        ):
            raise NotFoundError("no such user", param="user_id")
        request.subject_kind, request.subject_user_id = "user", user_id
    else:
        kind, value = (
            ("email", normalize_email(email)) if email else ("phone", normalize_e164(phone or ""))
        )
        digest = (email_lookup_hash if kind == "email" else phone_lookup_hash)(
            session, organization_id, value
        )
        request.subject_kind, request.subject_hash = kind, digest
        request.subject_value = encrypt_field(
            session, organization_id, TABLE, request_id, "subject_value", value, subject_ref=digest
        )
    session.add(request)
    session.flush()
    _audit(session, actor, request, "received")
    return request


def get_request(session: Session, organization_id: str, request_id: str) -> SubjectRequest:
    request = session.get(SubjectRequest, request_id)
    if request is None or request.organization_id != organization_id:
        raise NotFoundError("no such privacy request", param="request_id")
    return request


def list_requests(session: Session, organization_id: str) -> list[SubjectRequest]:
    return list(
        session.scalars(
            select(SubjectRequest)
            .where(SubjectRequest.organization_id == organization_id)
            .order_by(SubjectRequest.received_at.desc(), SubjectRequest.id)
        )
    )


def verify_by_session(
    session: Session, request: SubjectRequest, actor: Actor, *, reauthenticated: bool
) -> None:
    """A user's own request: verified by their session, after they re-entered their password."""
    _open(request)
    if request.subject_user_id is None or actor.actor_id != request.subject_user_id:
        raise PermissionDeniedError("only the subject can verify by their own session")
    if not reauthenticated:
        raise PermissionDeniedError("re-authenticate to verify", code="reauthentication_required")
    _mark_verified(session, request, actor, "session")


def send_code(session: Session, settings: Settings, request: SubjectRequest, actor: Actor) -> None:
    """Mail a one-time code to the email address the request names (external subjects)."""
    _open(request)
    if request.subject_kind != "email":
        raise ValidationFailedError(
            "one-time codes go to an email address; phone subjects are verified by the "
            "organization (attest)",
            param="subject",
        )
    # The code is computed from a reference, never stored (the outbox keeps the reference).
    request.code_expires_at = utcnow() + CODE_TTL
    secret_ref = f"{CODE}privacy_request:{request.id}:{request.code_expires_at.isoformat()}"
    code = mailed_secret(session, secret_ref)
    request.code_hash = _code_digest(request, code)
    request.code_attempts = 0
    request.status = RequestStatus.VERIFYING.value
    mail.send(
        session,
        settings,
        mail.Mail(
            to=subject_value(session, request) or "",
            subject="Your privacy request verification code",
            body=f"Your code is {SECRET}. It expires in 30 minutes.",
            organization_id=request.organization_id,
            secret_ref=secret_ref,
        ),
    )
    _audit(session, actor, request, "code_sent")


def check_code(session: Session, request: SubjectRequest, actor: Actor, code: str) -> None:
    _open(request)
    if request.code_hash is None or request.code_expires_at is None:
        raise ConflictError("no code was sent for this request", code="no_code_sent")
    request.code_attempts += 1
    if request.code_attempts > MAX_CODE_ATTEMPTS or request.code_expires_at < utcnow():
        request.code_hash = None
        raise ValidationFailedError("the code expired; ask for a new one", code="code_expired")
    if not hmac.compare_digest(request.code_hash, _code_digest(request, code)):
        _audit(session, actor, request, "code_failed", result="failure")
        raise ValidationFailedError("wrong code", param="code", code="invalid_code")
    request.code_hash = None
    _mark_verified(session, request, actor, "email_code")


def attest(session: Session, request: SubjectRequest, actor: Actor, note: str) -> None:
    """The organization verified the subject itself (a caller identified on the phone line)."""
    _open(request)
    if not note.strip():
        raise ValidationFailedError("say how the subject was verified", param="note")
    _mark_verified(session, request, actor, "attested", note=note.strip())


def _code_digest(request: SubjectRequest, code: str) -> str:
    return hashlib.sha256(f"{request.id}:{code}".encode()).hexdigest()


def _mark_verified(
    session: Session, request: SubjectRequest, actor: Actor, method: str, note: str | None = None
) -> None:
    request.verified_at, request.verification_method = utcnow(), method
    if request.status == RequestStatus.VERIFYING:
        request.status = RequestStatus.RECEIVED.value
    _audit(session, actor, request, "verified", method=method, note=note)


def extend(
    session: Session,
    settings: Settings,
    request: SubjectRequest,
    actor: Actor,
    months: int,
    reason: str,
) -> None:
    """Extend the deadline by one or two months; the subject is told why (when we can mail)."""
    _open(request)
    if not 1 <= months <= MAX_EXTENSION_MONTHS or request.extension_reason is not None:
        raise ValidationFailedError(
            "a request may be extended once, by one or two months", param="months"
        )
    if not reason.strip():
        raise ValidationFailedError("an extension needs a reason", param="reason")
    request.due_at = add_months(request.received_at, 1 + months)
    request.extension_reason = reason.strip()
    request.status = RequestStatus.EXTENDED.value
    address = _notice_address(session, request)
    if address is not None:
        mail.send(
            session,
            settings,
            mail.Mail(
                to=address,
                subject="Your privacy request needs more time",
                body=f"We will answer by {request.due_at:%Y-%m-%d}. Reason: {reason.strip()}",
                organization_id=request.organization_id,
            ),
        )
    _audit(session, actor, request, "extended", months=months, notified=address is not None)


def reject(session: Session, request: SubjectRequest, actor: Actor, reason: str) -> None:
    _open(request)
    if not reason.strip():
        raise ValidationFailedError("a rejection needs a reason", param="reason")
    request.status, request.rejection_reason = RequestStatus.REJECTED.value, reason.strip()
    request.completed_at = utcnow()
    _audit(session, actor, request, "rejected")


def _notice_address(session: Session, request: SubjectRequest) -> str | None:
    if request.subject_user_id is not None:
        user = session.get(User, request.subject_user_id)
        return user.email if user is not None else None
    return subject_value(session, request) if request.subject_kind == "email" else None


def subject_value(session: Session, request: SubjectRequest) -> str | None:
    if request.subject_value is None:
        return None
    return decrypt_text(session, TABLE, request.id, "subject_value", request.subject_value)


def subject_of(session: Session, request: SubjectRequest) -> Subject:
    org_id = request.organization_id
    if request.subject_user_id is not None:
        user = session.get(User, request.subject_user_id)
        email = normalize_email(user.email) if user is not None else None
        return Subject(
            organization_id=org_id,
            user_id=request.subject_user_id,
            email=email,
            email_hash=email_lookup_hash(session, org_id, email) if email else None,
            phone=user.phone_number if user is not None else None,
        )
    value = subject_value(session, request)
    if request.subject_kind == "email":
        return Subject(organization_id=org_id, email=value, email_hash=request.subject_hash)
    return Subject(organization_id=org_id, phone=value, phone_hash=request.subject_hash)


def _open(request: SubjectRequest) -> None:
    if request.status in CLOSED:
        raise ConflictError(f"the request is {request.status}", code="request_closed")


def _ready(request: SubjectRequest, expected: tuple[RequestType, ...]) -> None:
    _open(request)
    if request.type not in expected:
        raise ConflictError(f"this is a {request.type} request", code="wrong_request_type")
    if request.verified_at is None:
        raise ConflictError("verify the subject first", code="subject_not_verified")


def _complete(
    session: Session, request: SubjectRequest, actor: Actor, outcome: dict[str, Any]
) -> None:
    request.status, request.completed_at = RequestStatus.COMPLETED.value, utcnow()
    request.progress, request.outcome = 100, outcome
    _audit(session, actor, request, "completed")


def _audit(
    session: Session,
    actor: Actor,
    request: SubjectRequest,
    verb: str,
    *,
    result: str = "success",
    **changes: Any,
) -> None:
    audit.record(
        session,
        actor,
        f"privacy_request.{verb}",
        target=("privacy_request", request.id),
        result=result,
        changes={"type": request.type, "status": request.status, **changes},
        organization_id=request.organization_id,
    )


# --- access and portability -----------------------------------------------------------------


def start_export(session: Session, request: SubjectRequest, actor: Actor) -> None:
    """Mark an access/portability request in progress; ``build_export`` then does the work."""
    _ready(request, (RequestType.ACCESS, RequestType.PORTABILITY))
    request.status, request.progress = RequestStatus.IN_PROGRESS.value, 0
    _audit(session, actor, request, "started")


def build_export(
    sessions: sessionmaker[Session], request_id: str, blobs: EncryptedBlobStore, actor: Actor
) -> None:
    """Collect every store's data into an encrypted ZIP and complete the request.

    Runs in the background (a worker thread): progress is committed after each store.
    """
    stores = subject_stores()
    collected: dict[str, Exported] = {}
    with transaction(sessions) as session:
        subject = subject_of(session, session.get_one(SubjectRequest, request_id))
    for index, (name, store) in enumerate(stores.items(), start=1):
        with transaction(sessions) as session:
            collected[name] = store.export(StoreContext(session, subject, blobs, utcnow()))
            request = session.get_one(SubjectRequest, request_id)
            request.progress = int(90 * index / len(stores))
    archive = export_zip(request_id, collected)
    with transaction(sessions) as session:
        request = session.get_one(SubjectRequest, request_id)
        request.export_blob_id = blobs.put(session, request.organization_id, archive)
        counts = {name: len(data.records) + len(data.files) for name, data in collected.items()}
        _complete(session, request, actor, {"exported": counts})


def issue_download_link(session: Session, request: SubjectRequest, actor: Actor) -> str:
    """A new one-time download token for the finished export (an earlier one stops working)."""
    if request.export_blob_id is None:
        raise ConflictError("no export is waiting to be downloaded", code="export_not_ready")
    token = secrets.token_urlsafe(32)
    request.export_token_hash = hashlib.sha256(token.encode()).hexdigest()
    request.export_expires_at = utcnow() + EXPORT_TTL
    _audit(session, actor, request, "download_link_issued")
    return token


def export_zip(request_id: str, collected: Mapping[str, Exported]) -> bytes:
    """JSON per store, CSV per record kind, the files, and a README manifest."""
    buffer = io.BytesIO()
    manifest = [
        f"Personal data export for privacy request {request_id}",
        f"Generated {utcnow().isoformat()}. Machine-readable: UTF-8 JSON and CSV.",
        "",
    ]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in collected.items():
            archive.writestr(f"{name}.json", json.dumps(data.records, indent=2, default=str))
            manifest.append(f"{name}.json: {len(data.records)} records")
            for kind, rows in _by_kind(data.records).items():
                archive.writestr(f"{name}/{kind}.csv", _csv(rows))
                manifest.append(f"{name}/{kind}.csv: {len(rows)} rows")
            for file_name, content in data.files.items():
                archive.writestr(file_name, content)
                manifest.append(f"{file_name}: {len(content)} bytes")
        archive.writestr("README.txt", "\n".join(manifest) + "\n")
    return buffer.getvalue()


def _by_kind(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault(str(record.get("kind", "record")), []).append(record)
    return grouped


def _csv(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def download_export(session: Session, token: str, blobs: EncryptedBlobStore) -> bytes:
    """The ZIP, once: the link then stops working, and the archive is deleted."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    request = session.scalar(
        select(SubjectRequest).where(SubjectRequest.export_token_hash == digest)
    )
    if (
        request is None
        or request.export_blob_id is None
        or request.export_downloaded_at is not None
        or request.export_expires_at is None
        or request.export_expires_at < utcnow()
    ):
        raise NotFoundError("this download link is invalid, used or expired", code="link_expired")
    archive = blobs.get(session, request.export_blob_id)
    blobs.delete(request.export_blob_id)
    request.export_blob_id, request.export_downloaded_at = None, utcnow()
    return archive


# --- erasure, restriction, objection, rectification -----------------------------------------


def erase(
    session: Session,
    request: SubjectRequest,
    actor: Actor,
    blobs: EncryptedBlobStore,
    *,
    ledger: ErasureLedger,
) -> dict[str, Any]:
    """Delete or anonymise the subject in every store, then destroy the subject's data keys.

    The erasure is written to ``ledger`` (outside the database) before the caller commits, so
    that restoring an older backup erases the subject again.
    """
    _ready(request, (RequestType.ERASURE,))
    subject = subject_of(session, request)
    if request.id not in ledger.request_ids():
        ledger.append(
            ErasureEntry(
                request_id=request.id,
                organization_id=subject.organization_id,
                erased_at=utcnow(),
                user_id=subject.user_id or _user_id_by_email(session, subject),
                email_hash=subject.email_hash,
                phone_hash=subject.phone_hash,
            )
        )
    results, destroyed = erase_subject(session, subject, blobs)
    for export_blob in _pending_exports(session, request):
        blobs.delete(export_blob)
    held = {name: list(result.held) for name, result in results.items() if result.held}
    outcome = {
        "removed": {name: result.removed for name, result in results.items()},
        "kept": {
            name: {"records": result.kept, "reason": result.kept_reason}
            for name, result in results.items()
            if result.kept
        },
        "held": held,
        "keys_destroyed": destroyed,
    }
    if held:
        # The rest waits for the holds: releasing the last one finishes the erasure.
        request.status, request.progress, request.outcome = (
            RequestStatus.IN_PROGRESS.value,
            50,
            outcome,
        )
        _audit(session, actor, request, "held", holds=sorted(_hold_ids(held)))
        return outcome
    request.subject_value = None
    _complete(session, request, actor, outcome)
    return outcome


def _hold_ids(held: Mapping[str, list[dict[str, Any]]]) -> set[str]:
    return {hold for records in held.values() for record in records for hold in record["holds"]}


def erasure_holds(session: Session, organization_id: str) -> Holds:
    """The organization's active legal holds, calls resolved to both their record and session
    ids. A hold placed by a restriction request does not stop that subject's later erasure."""
    organization: list[str] = []
    calls: dict[str, list[str]] = {}
    for hold in active_legal_holds(session, organization_id):
        if hold.reason.startswith(RESTRICTION_HOLD_PREFIX):
            continue
        if hold.object_type is None:
            organization.append(hold.id)
            continue
        refs = {hold.object_ref or ""}
        for row in session.execute(
            select(CallRecord.id, CallRecord.session_id).where(
                CallRecord.organization_id == organization_id,
                or_(CallRecord.id == hold.object_ref, CallRecord.session_id == hold.object_ref),
            )
        ):
            refs |= {row.id, row.session_id or ""}
        for ref in refs - {""}:
            calls.setdefault(ref, []).append(hold.id)
    return Holds(tuple(organization), {ref: tuple(ids) for ref, ids in calls.items()})


def erase_subject(
    session: Session, subject: Subject, blobs: EncryptedBlobStore
) -> tuple[dict[str, Erased], int]:
    """Every store's erasure for ``subject``, then its data keys destroyed (idempotent).

    Legal holds win: under an organization-wide hold nothing is erased, under a hold on a call
    that call stays; held records are reported, and no key is destroyed while any are held
    (that would erase them too).
    """
    holds = erasure_holds(session, subject.organization_id)
    context = StoreContext(session, subject, blobs, utcnow(), holds)
    stores = subject_stores()
    if holds.organization:
        return {
            name: Erased(removed=0, held=_held_whole(store, context))
            for name, store in stores.items()
        }, 0
    results: dict[str, Erased] = {name: s.erase(context) for name, s in stores.items()}
    if any(result.held for result in results.values()):
        return results, 0
    keyring = get_keyring()
    destroyed = sum(
        keyring.destroy(session, subject.organization_id, ref) for ref in subject.key_refs
    )
    return results, destroyed


def _held_whole(store: SubjectStore, context: StoreContext) -> tuple[dict[str, Any], ...]:
    """What an organization-wide hold keeps of one store: its records, counted by kind."""
    counts: dict[str, int] = {}
    for record in store.export(context).records:
        kind = str(record.get("kind", "record"))
        counts[kind] = counts.get(kind, 0) + 1
    holds = list(context.holds.organization)
    return tuple({"kind": kind, "records": n, "holds": holds} for kind, n in counts.items())


def resume_held_erasures(
    session: Session,
    organization_id: str,
    actor: Actor,
    blobs: EncryptedBlobStore,
    *,
    ledger: ErasureLedger,
) -> list[str]:
    """After a hold is released: carry on every erasure of the organization that waited for
    holds (each erases what is no longer held; the last release completes it)."""
    waiting = session.scalars(
        select(SubjectRequest).where(
            SubjectRequest.organization_id == organization_id,
            SubjectRequest.type == RequestType.ERASURE.value,
            SubjectRequest.status == RequestStatus.IN_PROGRESS.value,
        )
    ).all()
    for request in waiting:
        erase(session, request, actor, blobs, ledger=ledger)
    return [request.id for request in waiting]


def _user_id_by_email(session: Session, subject: Subject) -> str | None:
    """The account an external email subject turned out to have (the ledger keeps its id)."""
    if subject.email is None:
        return None
    user = organization_user_by_email(session, subject.organization_id, subject.email)
    return user.id if user is not None else None


def _pending_exports(session: Session, request: SubjectRequest) -> list[str]:
    """Blob ids of earlier, not yet downloaded exports about the same subject."""
    query = select(SubjectRequest).where(
        SubjectRequest.organization_id == request.organization_id,
        SubjectRequest.export_blob_id.is_not(None),
    )
    if request.subject_user_id is not None:
        query = query.where(SubjectRequest.subject_user_id == request.subject_user_id)
    else:
        query = query.where(SubjectRequest.subject_hash == request.subject_hash)
    blob_ids = []
    for earlier in session.scalars(query):
        blob_ids.append(earlier.export_blob_id or "")
        earlier.export_blob_id = None
    return [blob_id for blob_id in blob_ids if blob_id]


def restrict(session: Session, request: SubjectRequest, actor: Actor) -> dict[str, Any]:
    """Keep the data but stop processing it: limits on every purpose, purging frozen."""
    _ready(request, (RequestType.RESTRICTION,))
    subject = subject_of(session, request)
    _limit(session, request, subject, "restriction", [ALL_PROCESSING])
    frozen = 0
    for ref in _call_refs(session, subject):
        place_legal_hold(
            session,
            subject.organization_id,
            f"{RESTRICTION_HOLD_PREFIX}{request.id})",
            object_type="call",
            object_ref=ref,
            actor_id=actor.actor_id,
        )
        frozen += 1
    outcome = {"limited_refs": len(subject.key_refs), "frozen_calls": frozen}
    _complete(session, request, actor, outcome)
    return outcome


def object_to(
    session: Session, request: SubjectRequest, actor: Actor, purposes: list[Purpose] | None = None
) -> dict[str, Any]:
    """Opt the subject out of legitimate-interest processing (all of it unless narrowed)."""
    _ready(request, (RequestType.OBJECTION,))
    chosen = purposes or list(LEGITIMATE_INTEREST)
    if any(purpose not in LEGITIMATE_INTEREST for purpose in chosen):
        raise ValidationFailedError(
            "objection covers analytics, quality_sampling and product_improvement",
            param="purposes",
        )
    subject = subject_of(session, request)
    _limit(session, request, subject, "objection", [purpose.value for purpose in chosen])
    outcome = {"purposes": sorted(purpose.value for purpose in chosen)}
    _complete(session, request, actor, outcome)
    return outcome


def _limit(
    session: Session, request: SubjectRequest, subject: Subject, kind: str, purposes: list[str]
) -> None:
    for ref in subject.key_refs:
        session.add(
            ProcessingLimit(
                id=new_id("plim"),
                organization_id=subject.organization_id,
                subject_ref=ref,
                kind=kind,
                purposes=purposes,
                request_id=request.id,
            )
        )
    session.flush()


def _call_refs(session: Session, subject: Subject) -> list[str]:
    """Call record ids and session ids of the subject's calls (both are held as ``call``)."""
    if subject.phone_hash is None:
        return []
    rows = session.execute(
        select(CallRecord.id, CallRecord.session_id).where(
            CallRecord.organization_id == subject.organization_id,
            or_(
                CallRecord.from_hash == subject.phone_hash, CallRecord.to_hash == subject.phone_hash
            ),
        )
    ).all()
    return [ref for row in rows for ref in (row.id, row.session_id) if ref]


def processing_allowed(
    session: Session, organization_id: str, subject_refs: tuple[str, ...], purpose: Purpose
) -> bool:
    """False when the subject restricted processing, or objected to this purpose."""
    if not subject_refs:
        return True
    limits = session.scalars(
        select(ProcessingLimit).where(
            ProcessingLimit.organization_id == organization_id,
            ProcessingLimit.subject_ref.in_(subject_refs),
            ProcessingLimit.lifted_at.is_(None),
        )
    )
    return not any(
        ALL_PROCESSING in limit.purposes or purpose.value in limit.purposes for limit in limits
    )


def rectify(
    session: Session,
    request: SubjectRequest,
    actor: Actor,
    *,
    account: Mapping[str, str | None] | None = None,
    transcript_turns: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Correct account fields and transcript text; the audit notes which fields changed."""
    _ready(request, (RequestType.RECTIFICATION,))
    subject = subject_of(session, request)
    changed: list[str] = []
    if account:
        unknown = set(account) - ACCOUNT_FIELDS
        if unknown or subject.user_id is None:
            raise ValidationFailedError(
                "only a user's name and phone_number can be corrected here", param="account"
            )
        user = session.get_one(User, subject.user_id)
        for field_name, value in account.items():
            setattr(user, field_name, value)
            changed.append(f"account.{field_name}")
    for turn_id, corrected in (transcript_turns or {}).items():
        turn = session.get(TranscriptTurn, turn_id)
        if turn is None or turn.organization_id != subject.organization_id:
            raise NotFoundError("no such transcript turn", param="transcript_turns")
        # The translation stays as it was produced; only the recognised text is corrected.
        turn.text_encrypted = seal_turn_text(
            session, turn.organization_id, turn.id, corrected, None
        )[0]
        changed.append(f"transcript_turn.{turn_id}")
    if not changed:
        raise ValidationFailedError("nothing to correct", param="account")
    outcome = {"corrected": changed}
    _complete(session, request, actor, outcome)
    return outcome


def run_erasure(
    sessions: sessionmaker[Session],
    request_id: str,
    actor: Actor,
    blobs: EncryptedBlobStore,
    *,
    ledger: ErasureLedger,
) -> dict[str, Any]:
    """``erase`` in its own transaction, then flush SQLite's write-ahead log into the file.

    With ``secure_delete`` the database file is overwritten where rows were deleted, but the
    WAL still holds earlier page images until a checkpoint truncates it.
    """
    with transaction(sessions) as session:
        request = session.get_one(SubjectRequest, request_id)
        outcome = erase(session, request, actor, blobs, ledger=ledger)
    with sessions() as session:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    return outcome
