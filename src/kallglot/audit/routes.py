"""``GET /v1/audit-events`` (filtered, cursor-paginated) and its CSV export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, select

from kallglot import audit
from kallglot.accounts.dependencies import require
from kallglot.accounts.permissions import Permission
from kallglot.accounts.principal import Principal
from kallglot.audit.models import AuditEvent
from kallglot.audit.schemas import CSV_COLUMNS, AuditEventOut
from kallglot.core.instants import Instant, check_window
from kallglot.db.engine import transaction
from kallglot.http.deps import DbSession, SessionFactory
from kallglot.http.pagination import Page, Pagination, paginate

router = APIRouter(prefix="/v1", tags=["audit"])

EXPORT_LIMIT = 100_000
ActionFilter = Annotated[
    str | None, Query(max_length=80, pattern=r"^[a-z_.]+$", description="e.g. auth.login")
]
ActorFilter = Annotated[
    str | None,
    Query(max_length=40, pattern=r"^[a-z]+_[0-9A-Za-z]+$", description="usr_… or key_…"),
]
Since = Annotated[Instant | None, Query(description="occurred at or after (ISO 8601)")]
Until = Annotated[Instant | None, Query(description="occurred before (ISO 8601)")]


def _filtered(
    organization_id: str,
    action: str | None,
    actor_id: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[AuditEvent]:
    check_window(since, until)
    statement = select(AuditEvent).where(AuditEvent.organization_id == organization_id)
    if action:
        statement = statement.where(AuditEvent.action == action)
    if actor_id:
        statement = statement.where(AuditEvent.actor_id == actor_id)
    if since:
        statement = statement.where(AuditEvent.occurred_at >= since)
    if until:
        statement = statement.where(AuditEvent.occurred_at < until)
    return statement


@router.get("/audit-events", summary="The organization's audit log, newest first")
def list_audit_events(
    principal: Annotated[Principal, require(Permission.AUDIT_READ)],
    db: DbSession,
    page: Pagination,
    action: ActionFilter = None,
    actor_id: ActorFilter = None,
    since: Since = None,
    until: Until = None,
) -> Page[AuditEventOut]:
    statement = _filtered(principal.organization_id, action, actor_id, since, until)
    return paginate(db, statement, AuditEvent.id, page, AuditEventOut.model_validate)


@router.get(
    "/audit-events/export",
    summary="The audit log as CSV (same filters), oldest first",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_audit_events(
    principal: Annotated[Principal, require(Permission.AUDIT_READ)],
    sessions: SessionFactory,
    action: ActionFilter = None,
    actor_id: ActorFilter = None,
    since: Since = None,
    until: Until = None,
) -> StreamingResponse:
    statement = _filtered(principal.organization_id, action, actor_id, since, until)
    with transaction(sessions) as db:
        rows = [
            AuditEventOut.model_validate(event)
            for event in db.scalars(statement.order_by(AuditEvent.id).limit(EXPORT_LIMIT))
        ]
        audit.record(
            db,
            principal,
            "audit.exported",
            changes={"rows": len(rows), "action": action, "actor_id": actor_id},
        )
    filename = f"audit-{principal.organization_id}.csv"
    return StreamingResponse(
        _csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _csv(rows: list[AuditEventOut]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = row.model_dump()
        values["changes"] = json.dumps(values["changes"], sort_keys=True)
        values["occurred_at"] = row.occurred_at.isoformat()
        writer.writerow([_cell(values[column]) for column in CSV_COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _cell(value: object) -> str:
    """CSV cells that a spreadsheet would run as a formula are defused with a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
