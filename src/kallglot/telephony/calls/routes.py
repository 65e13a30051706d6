"""``/v1/calls``: call records (filters, cursor pagination, CSV), answering, calling out."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

import anyio.from_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from kallglot import audit
from kallglot.accounts import alerts
from kallglot.accounts.alerts import Alert
from kallglot.accounts.dependencies import require
from kallglot.accounts.isolation import get_for_organization
from kallglot.accounts.permissions import Permission
from kallglot.accounts.principal import Principal
from kallglot.core.clock import utcnow
from kallglot.core.errors import NotFoundError
from kallglot.core.instants import Instant, check_window
from kallglot.core.schemas import RequestModel, ResponseModel
from kallglot.db.engine import transaction
from kallglot.http.deps import AppSettings, DbSession, SessionFactory
from kallglot.http.pagination import Page, Pagination, paginate
from kallglot.realtime import service as sessions
from kallglot.realtime.call_state import EndReason
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.models import CallSession
from kallglot.realtime.schemas import StreamInfo
from kallglot.telephony.calls import service
from kallglot.telephony.calls.models import CallRecord
from kallglot.telephony.numbers.models import PhoneNumber
from kallglot.telephony.routing.models import Agent

router = APIRouter(prefix="/v1/calls", tags=["calls"])
EXPORT_LIMIT = 100_000
IdFilter = Annotated[str | None, Query(max_length=40, pattern=r"^[a-z]+_[0-9A-Za-z]+$")]
CSV_COLUMNS = (
    "id",
    "direction",
    "from_number",
    "to_number",
    "started_at",
    "answered_at",
    "ended_at",
    "duration_seconds",
    "outcome",
    "agent_id",
    "queue_id",
    "number_id",
    "caller_language",
    "agent_language",
    "mode",
    "session_id",
    "recording",
)


class CallOut(ResponseModel):
    id: str
    object: str = "call"
    direction: str
    from_number: str
    to_number: str
    number_id: str | None
    queue_id: str | None
    agent_id: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    duration_seconds: int | None
    outcome: str
    caller_language: str | None
    agent_language: str | None
    mode: str
    session_id: str | None
    recording: bool


class AnsweredCallOut(CallOut):
    stream: StreamInfo | None = Field(
        default=None,
        description="joins the call's session as the agent (party=agent); the agent's own "
        "token: the carrier's stream keeps its token and may connect or reconnect after it",
    )


class OutboundIn(RequestModel):
    from_number_id: str = Field(pattern=r"^num_[0-9A-Z]+$")
    to: str = Field(min_length=5, max_length=32, pattern=r"^[+0-9 ()./-]+$")
    mode: Literal["bidirectional_translation", "assistive_translation", "transcription"] = (
        "bidirectional_translation"
    )
    caller_language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$")


def call_filters(
    direction: Annotated[Literal["inbound", "outbound"] | None, Query()] = None,
    outcome: Annotated[str | None, Query(max_length=20, pattern=r"^[a-z_]+$")] = None,
    agent_id: IdFilter = None,
    queue_id: IdFilter = None,
    number_id: IdFilter = None,
    session_id: IdFilter = None,
    phone: Annotated[
        str | None,
        Query(max_length=32, pattern=r"^[+0-9 ()./-]+$", description="either party's number"),
    ] = None,
    since: Annotated[Instant | None, Query()] = None,
    until: Annotated[Instant | None, Query()] = None,
) -> service.CallFilters:
    check_window(since, until)
    return service.CallFilters(
        direction, outcome, agent_id, queue_id, number_id, session_id, phone, since, until
    )


Filters = Annotated[service.CallFilters, Depends(call_filters)]


def _visible_to(db: Session, principal: Principal) -> str | None:
    """Agents see their own calls; supervisors and above (calls:manage) see every call."""
    if principal.has(Permission.CALLS_MANAGE) or principal.actor_type == "api_key":
        return None
    agent_id = db.scalar(
        select(Agent.id).where(
            Agent.organization_id == principal.organization_id, Agent.user_id == principal.user_id
        )
    )
    return agent_id or "none"


def _out(db: Session, record: CallRecord) -> CallOut:
    from_number, to_number = service.numbers_of(db, record)
    return CallOut.model_validate(
        {
            **{c: getattr(record, c) for c in CSV_COLUMNS if c not in ("from_number", "to_number")},
            "from_number": from_number,
            "to_number": to_number,
        }
    )


@router.get("", summary="Call records, newest first")
def list_calls(
    principal: Annotated[Principal, require(Permission.CALLS_READ)],
    db: DbSession,
    page: Pagination,
    filters: Filters,
) -> Page[CallOut]:
    statement = service.filtered(db, principal.organization_id, filters, _visible_to(db, principal))
    return paginate(db, statement, CallRecord.id, page, lambda record: _out(db, record))


@router.get(
    "/export",
    summary="Call records as CSV (same filters), oldest first",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_calls(
    principal: Annotated[Principal, require(Permission.CALLS_MANAGE)],
    sessions: SessionFactory,
    settings: AppSettings,
    filters: Filters,
) -> StreamingResponse:
    with transaction(sessions) as db:
        statement = service.filtered(db, principal.organization_id, filters, None)
        rows = [
            _out(db, record)
            for record in db.scalars(statement.order_by(CallRecord.id).limit(EXPORT_LIMIT))
        ]
        audit.record(db, principal, "calls.exported", changes={"rows": len(rows)})
        # Call records name callers by their phone numbers: personal data leaves.
        alerts.notify_owners(
            db,
            settings,
            principal.organization_id,
            Alert.PERSONAL_DATA_EXPORTED,
            context=principal.context,
            detail=f"Call records were exported as CSV ({len(rows)} rows).",
        )
    return StreamingResponse(
        _csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="calls.csv"'},
    )


def _csv(rows: list[CallOut]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = row.model_dump(mode="json")
        writer.writerow([_cell(values[column]) for column in CSV_COLUMNS])
    yield buffer.getvalue()


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get("/{call_id}", summary="Retrieve a call record")
def get_call(
    call_id: str,
    principal: Annotated[Principal, require(Permission.CALLS_READ)],
    db: DbSession,
) -> CallOut:
    record = get_for_organization(db, CallRecord, call_id, principal.organization_id, what="call")
    only = _visible_to(db, principal)
    if only is not None and record.agent_id != only:
        raise NotFoundError(f"No such call: '{call_id[:64]}'.", param="id")
    return _out(db, record)


def _own_agent(db: Session, principal: Principal) -> Agent:
    agent = db.scalar(
        select(Agent).where(
            Agent.organization_id == principal.organization_id, Agent.user_id == principal.user_id
        )
    )
    if agent is None:
        raise NotFoundError("You are not set up as an agent.", code="agent_not_found")
    return agent


@router.post(
    "/{call_id}/answer",
    summary="Answer a call offered to you; the answer says how to join its session",
)
def answer_call(
    call_id: str,
    principal: Annotated[Principal, require(Permission.CALLS_ANSWER)],
    db: DbSession,
    settings: AppSettings,
) -> AnsweredCallOut:
    record = get_for_organization(
        db, CallRecord, call_id, principal.organization_id, what="call", for_update=True
    )
    service.answer(db, record, _own_agent(db, principal), utcnow())
    stream = None
    session = db.get(CallSession, record.session_id) if record.session_id else None
    if session is not None and session.organization_id == principal.organization_id:
        grant = sessions.issue_stream_token(db, session, settings.stream_token_ttl, "agent")
        stream = StreamInfo(
            url=sessions.stream_url(settings.public_base_url, session.id),
            token=grant.token,
            expires_at=grant.expires_at,
        )
    return AnsweredCallOut.model_validate({**_out(db, record).model_dump(), "stream": stream})


@router.post("/{call_id}/hangup", summary="End a call")
def hangup_call(
    call_id: str,
    principal: Annotated[Principal, require(Permission.CALLS_ANSWER)],
    sessions_factory: SessionFactory,
    request: Request,
) -> CallOut:
    """The agent hangs up: the call's session ends with it (every other leg is hung up,
    the record closed, the agent released), through the same end as any other leg's."""
    with transaction(sessions_factory) as db:
        record = get_for_organization(
            db, CallRecord, call_id, principal.organization_id, what="call"
        )
        session_id = record.session_id
    hub: RealtimeHub = request.app.state.realtime
    if session_id is not None:
        anyio.from_thread.run(hub.end, session_id, EndReason.AGENT_HANGUP)
    with transaction(sessions_factory) as db:
        record = get_for_organization(
            db, CallRecord, call_id, principal.organization_id, what="call", for_update=True
        )
        # A call without a session (or whose session had ended already) is closed here.
        service.end(db, record, utcnow(), reason=EndReason.AGENT_HANGUP)
        return _out(db, record)


@router.post("/outbound", status_code=201, summary="Call out with an owned number as caller ID")
def call_out(
    body: OutboundIn,
    principal: Annotated[Principal, require(Permission.CALLS_ANSWER)],
    db: DbSession,
) -> CallOut:
    number = get_for_organization(
        db, PhoneNumber, body.from_number_id, principal.organization_id, what="phone number"
    )
    record = service.outbound(
        db,
        _own_agent(db, principal),
        number,
        body.to,
        utcnow(),
        mode=body.mode,
        caller_language=body.caller_language,
    )
    audit.record(db, principal, "call.placed", target=("call", record.id))
    return _out(db, record)
