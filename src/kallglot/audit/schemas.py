"""Audit events as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from kallglot.core.schemas import ResponseModel


class AuditEventOut(ResponseModel):
    id: str
    object: Literal["audit_event"] = "audit_event"
    sequence: int
    occurred_at: datetime
    organization_id: str | None
    actor_type: str
    actor_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    result: str
    ip: str | None
    user_agent: str | None
    request_id: str | None
    changes: dict[str, Any]
    prev_hash: str
    hash: str


CSV_COLUMNS = [
    "id",
    "sequence",
    "occurred_at",
    "organization_id",
    "actor_type",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "result",
    "ip",
    "user_agent",
    "request_id",
    "changes",
    "prev_hash",
    "hash",
]
