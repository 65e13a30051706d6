"""``/v1/privacy/...``: data-subject requests, retention, legal holds, legal requests, and the
public sub-processor list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from kallglot.accounts import alerts
from kallglot.accounts.alerts import Alert
from kallglot.accounts.dependencies import PUBLIC, require
from kallglot.accounts.models import User
from kallglot.accounts.passwords import verify_password
from kallglot.accounts.permissions import Permission
from kallglot.accounts.principal import Principal
from kallglot.core.errors import AuthenticationError, ValidationFailedError
from kallglot.crypto import EncryptedBlobStore
from kallglot.db.engine import transaction
from kallglot.http.deps import AppSettings, DbSession, SessionFactory
from kallglot.privacy import legal, subprocessors
from kallglot.privacy import requests as dsr
from kallglot.privacy.erasure_ledger import ErasureLedger
from kallglot.privacy.models import LegalRequest, SubjectRequest
from kallglot.privacy.retention import (
    active_legal_holds,
    check_hold_target,
    place_legal_hold,
    release_legal_hold,
    retention_policy,
    set_retention_override,
)
from kallglot.privacy.schemas import (
    Attestation,
    CodeCheck,
    DownloadLink,
    Execution,
    Extension,
    LegalDecision,
    LegalHoldRequest,
    LegalHoldResponse,
    LegalRequestCreate,
    LegalRequestOut,
    OwnRequestCreate,
    Rejection,
    RetentionClassPolicy,
    RetentionOverrideRequest,
    SubjectRequestCreate,
    SubjectRequestOut,
    SubProcessorList,
    SubProcessorOut,
)

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])

Reader = Annotated[Principal, require(Permission.PRIVACY_READ)]
Manager = Annotated[Principal, require(Permission.PRIVACY_MANAGE)]
Compliance = Annotated[Principal, require(Permission.LEGAL_REQUESTS_MANAGE)]
RetentionManager = Annotated[Principal, require(Permission.RETENTION_MANAGE)]
RequestId = Annotated[str, Path(max_length=40)]


def _out(request: SubjectRequest) -> SubjectRequestOut:
    return SubjectRequestOut.model_validate(request)


# --- data-subject requests ------------------------------------------------------------------


@router.post("/requests", status_code=201, summary="Record a data-subject request")
def create_request(
    body: SubjectRequestCreate, principal: Manager, db: DbSession
) -> SubjectRequestOut:
    request = dsr.open_request(
        db,
        principal.organization_id,
        body.type,
        principal,
        user_id=body.user_id,
        email=body.email,
        phone=body.phone,
    )
    return _out(request)


@router.post("/my-requests", status_code=201, summary="A signed-in user's request about themselves")
def create_own_request(
    body: OwnRequestCreate,
    principal: Annotated[Principal, require(Permission.ACCOUNT_MANAGE)],
    db: DbSession,
    settings: AppSettings,
) -> SubjectRequestOut:
    user = db.get_one(User, principal.actor_id)
    if not verify_password(settings, user.password_hash, body.password):
        raise AuthenticationError("The password is wrong.", code="reauthentication_failed")
    request = dsr.open_request(
        db, principal.organization_id, body.type, principal, user_id=principal.actor_id
    )
    dsr.verify_by_session(db, request, principal, reauthenticated=True)
    return _out(request)


@router.get("/requests", summary="The organization's data-subject requests, newest first")
def list_requests(principal: Reader, db: DbSession) -> list[SubjectRequestOut]:
    return [_out(request) for request in dsr.list_requests(db, principal.organization_id)]


@router.get("/requests/{request_id}", summary="One data-subject request, with its progress")
def get_request(request_id: RequestId, principal: Reader, db: DbSession) -> SubjectRequestOut:
    return _out(dsr.get_request(db, principal.organization_id, request_id))


@router.post("/requests/{request_id}/send-code", summary="Mail the subject a one-time code")
def send_code(
    request_id: RequestId, principal: Manager, db: DbSession, settings: AppSettings
) -> SubjectRequestOut:
    request = dsr.get_request(db, principal.organization_id, request_id)
    dsr.send_code(db, settings, request, principal)
    return _out(request)


@router.post("/requests/{request_id}/verify", summary="Check the code the subject received")
def verify_code(
    request_id: RequestId, body: CodeCheck, principal: Manager, sessions: SessionFactory
) -> SubjectRequestOut:
    # A wrong code is committed as an attempt (and audited) even though the answer is an error.
    failure: ValidationFailedError | None = None
    with transaction(sessions) as db:
        request = dsr.get_request(db, principal.organization_id, request_id)
        try:
            dsr.check_code(db, request, principal, body.code)
        except ValidationFailedError as exc:
            failure = exc
        answer = _out(request)
    if failure is not None:
        raise failure
    return answer


@router.post("/requests/{request_id}/attest", summary="Record how the organization verified")
def attest(
    request_id: RequestId, body: Attestation, principal: Manager, db: DbSession
) -> SubjectRequestOut:
    request = dsr.get_request(db, principal.organization_id, request_id)
    dsr.attest(db, request, principal, body.note)
    return _out(request)


@router.post("/requests/{request_id}/extend", summary="Extend the deadline by 1-2 months")
def extend(
    request_id: RequestId,
    body: Extension,
    principal: Manager,
    db: DbSession,
    settings: AppSettings,
) -> SubjectRequestOut:
    request = dsr.get_request(db, principal.organization_id, request_id)
    dsr.extend(db, settings, request, principal, body.months, body.reason)
    return _out(request)


@router.post("/requests/{request_id}/reject", summary="Reject the request, with the reason")
def reject(
    request_id: RequestId, body: Rejection, principal: Manager, db: DbSession
) -> SubjectRequestOut:
    request = dsr.get_request(db, principal.organization_id, request_id)
    dsr.reject(db, request, principal, body.reason)
    return _out(request)


@router.post(
    "/requests/{request_id}/execute",
    summary="Carry the request out (an export runs in the background: poll its progress)",
)
def execute(
    request_id: RequestId,
    body: Execution,
    principal: Manager,
    sessions: SessionFactory,
    settings: AppSettings,
    background: BackgroundTasks,
) -> SubjectRequestOut:
    blobs = EncryptedBlobStore.from_settings(settings)
    with transaction(sessions) as db:
        request = dsr.get_request(db, principal.organization_id, request_id)
        kind = dsr.RequestType(request.type)
        if kind in (dsr.RequestType.ACCESS, dsr.RequestType.PORTABILITY):
            dsr.start_export(db, request, principal)
            background.add_task(dsr.build_export, sessions, request.id, blobs, principal)
        elif kind is dsr.RequestType.RESTRICTION:
            dsr.restrict(db, request, principal)
        elif kind is dsr.RequestType.OBJECTION:
            dsr.object_to(db, request, principal, body.purposes)
        elif kind is dsr.RequestType.RECTIFICATION:
            dsr.rectify(
                db, request, principal, account=body.account, transcript_turns=body.transcript_turns
            )
    if kind is dsr.RequestType.ERASURE:
        dsr.run_erasure(
            sessions, request_id, principal, blobs, ledger=ErasureLedger.from_settings(settings)
        )
    with transaction(sessions) as db:
        return _out(dsr.get_request(db, principal.organization_id, request_id))


@router.post(
    "/requests/{request_id}/download-link",
    summary="A one-time link to the finished export (valid 7 days)",
)
def download_link(
    request_id: RequestId, principal: Manager, db: DbSession, settings: AppSettings
) -> DownloadLink:
    request = dsr.get_request(db, principal.organization_id, request_id)
    token = dsr.issue_download_link(db, request, principal)
    alerts.notify_owners(
        db,
        settings,
        principal.organization_id,
        Alert.PERSONAL_DATA_EXPORTED,
        context=principal.context,
        detail=f"A download link for the data-subject request {request.id} was issued.",
    )
    assert request.export_expires_at is not None
    return DownloadLink(
        url=f"{settings.public_base_url}/v1/privacy/exports/{token}",
        expires_at=request.export_expires_at,
    )


@router.get(
    "/exports/{token}",
    dependencies=[PUBLIC],
    summary="Download an export once (the token is the credential)",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def download_export(
    token: Annotated[str, Path(max_length=100)], db: DbSession, settings: AppSettings
) -> Response:
    archive = dsr.download_export(db, token, EncryptedBlobStore.from_settings(settings))
    return Response(
        archive,
        media_type="application/zip",
        headers={
            "Content-Disposition": 'attachment; filename="personal-data.zip"',
            "Cache-Control": "no-store",
        },
    )


# --- retention and legal holds --------------------------------------------------------------


@router.get("/retention", summary="Retention periods in force for each class")
def get_retention(principal: Reader, db: DbSession) -> list[RetentionClassPolicy]:
    return [RetentionClassPolicy.of(p) for p in retention_policy(db, principal.organization_id)]


@router.put("/retention/{retention_class}", summary="Override one class's retention period")
def put_retention(
    retention_class: Annotated[str, Path(max_length=40)],
    body: RetentionOverrideRequest,
    principal: RetentionManager,
    db: DbSession,
) -> list[RetentionClassPolicy]:
    set_retention_override(
        db, principal.organization_id, retention_class, body.days, actor_id=principal.actor_id
    )
    return get_retention(principal, db)


@router.get("/legal-holds", summary="Active legal holds")
def list_holds(principal: Reader, db: DbSession) -> list[LegalHoldResponse]:
    return [LegalHoldResponse.of(h) for h in active_legal_holds(db, principal.organization_id)]


@router.post("/legal-holds", status_code=201, summary="Suspend purging (organization or object)")
def place_hold(
    body: LegalHoldRequest, principal: RetentionManager, db: DbSession
) -> LegalHoldResponse:
    check_hold_target(db, principal.organization_id, body.object_type, body.object_ref)
    hold = place_legal_hold(
        db,
        principal.organization_id,
        body.reason,
        object_type=body.object_type,
        object_ref=body.object_ref,
        actor_id=principal.actor_id,
    )
    return LegalHoldResponse.of(hold)


@router.post("/legal-holds/{hold_id}/release", summary="Release a legal hold")
def release_hold(
    hold_id: RequestId, principal: RetentionManager, db: DbSession, settings: AppSettings
) -> LegalHoldResponse:
    hold = release_legal_hold(db, principal.organization_id, hold_id, actor_id=principal.actor_id)
    # Erasures that waited for holds erase what this one kept (and complete after the last).
    dsr.resume_held_erasures(
        db,
        principal.organization_id,
        principal,
        EncryptedBlobStore.from_settings(settings),
        ledger=ErasureLedger.from_settings(settings),
    )
    return LegalHoldResponse.of(hold)


# --- legal requests from authorities -------------------------------------------------------


def _legal_out(db: Session, request: LegalRequest) -> LegalRequestOut:
    details = legal.details_of(db, request)
    return LegalRequestOut(
        id=request.id,
        authority=request.authority,
        legal_basis=request.legal_basis,
        received_at=request.received_at,
        decision=request.decision,
        decided_at=request.decided_at,
        decided_by=request.decided_by,
        scope=details["scope"],
        disclosed=details["disclosed"],
        pushback=details["pushback"],
    )


@router.post("/legal-requests", status_code=201, summary="Record a request from an authority")
def create_legal_request(
    body: LegalRequestCreate, principal: Compliance, db: DbSession
) -> LegalRequestOut:
    request = legal.record_request(
        db,
        principal.organization_id,
        principal,
        authority=body.authority,
        legal_basis=body.legal_basis,
        scope=body.scope,
    )
    return _legal_out(db, request)


@router.get("/legal-requests", summary="The register of legal requests, newest first")
def list_legal_requests(principal: Compliance, db: DbSession) -> list[LegalRequestOut]:
    return [_legal_out(db, r) for r in legal.list_requests(db, principal.organization_id)]


@router.post("/legal-requests/{request_id}/decision", summary="Record the decision once")
def decide_legal_request(
    request_id: RequestId, body: LegalDecision, principal: Compliance, db: DbSession
) -> LegalRequestOut:
    request = legal.get_request(db, principal.organization_id, request_id)
    legal.decide(
        db, request, principal, body.decision, disclosed=body.disclosed, pushback=body.pushback
    )
    return _legal_out(db, request)


# --- public --------------------------------------------------------------------------------


@router.get(
    "/subprocessors",
    dependencies=[PUBLIC],
    summary="The public sub-processor list (announced ones show their effective date)",
)
def list_subprocessors(db: DbSession) -> JSONResponse:
    entries = subprocessors.current_list(db)
    body = SubProcessorList(
        version=subprocessors.version_of(entries),
        data=[SubProcessorOut.model_validate(entry) for entry in entries],
    )
    return JSONResponse(body.model_dump(mode="json"), headers={"Cache-Control": "max-age=300"})
