"""The register of lawful requests from authorities: what was asked, decided and disclosed.

Only holders of ``legal_requests:manage`` (owner, compliance) reach it; every step is audited.
The free-text parts are encrypted with the organization's key, bound to their row.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kallglot.audit import log as audit
from kallglot.audit.log import Actor
from kallglot.core.clock import utcnow
from kallglot.core.errors import ConflictError, NotFoundError
from kallglot.core.ids import new_id
from kallglot.crypto import decrypt_text, encrypt_field
from kallglot.privacy.models import LegalRequest

TABLE = LegalRequest.__tablename__


class Decision(StrEnum):
    PENDING = "pending"
    DISCLOSED = "disclosed"
    PARTIALLY_DISCLOSED = "partially_disclosed"
    REFUSED = "refused"


def _seal(session: Session, request: LegalRequest, details: dict[str, Any]) -> bytes:
    return encrypt_field(
        session, request.organization_id, TABLE, request.id, "details", json.dumps(details)
    )


def details_of(session: Session, request: LegalRequest) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        decrypt_text(session, TABLE, request.id, "details", request.details)
    )
    return loaded


def record_request(
    session: Session,
    organization_id: str,
    actor: Actor,
    *,
    authority: str,
    legal_basis: str,
    scope: str,
) -> LegalRequest:
    request = LegalRequest(
        id=new_id("lreq"),
        organization_id=organization_id,
        legal_basis=legal_basis,
        received_at=utcnow(),
        decision=Decision.PENDING.value,
        recorded_by=actor.actor_id,
    )
    request.details = _seal(session, request, {"scope": scope, "disclosed": None, "pushback": None})
    session.add(request)
    request.authority = authority  # encrypted: needs the row in the session
    session.flush()
    _audit(session, actor, request, "recorded", legal_basis=legal_basis)
    return request


def decide(
    session: Session,
    request: LegalRequest,
    actor: Actor,
    decision: Decision,
    *,
    disclosed: str | None,
    pushback: str | None,
) -> None:
    """Record the decision once: what was disclosed (if anything) and any pushback."""
    if request.decision != Decision.PENDING:
        raise ConflictError("this legal request was already decided", code="already_decided")
    if decision is Decision.PENDING:
        raise ConflictError("decide disclosed, partially_disclosed or refused", code="no_decision")
    details = details_of(session, request)
    details.update(disclosed=disclosed, pushback=pushback)
    request.details = _seal(session, request, details)
    request.decision, request.decided_at, request.decided_by = (
        decision.value,
        utcnow(),
        actor.actor_id,
    )
    _audit(session, actor, request, "decided", decision=decision.value)


def get_request(session: Session, organization_id: str, request_id: str) -> LegalRequest:
    request = session.get(LegalRequest, request_id)
    if request is None or request.organization_id != organization_id:
        raise NotFoundError("no such legal request", param="request_id")
    return request


def list_requests(session: Session, organization_id: str) -> list[LegalRequest]:
    return list(
        session.scalars(
            select(LegalRequest)
            .where(LegalRequest.organization_id == organization_id)
            .order_by(LegalRequest.received_at.desc(), LegalRequest.id)
        )
    )


def _audit(
    session: Session, actor: Actor, request: LegalRequest, verb: str, **changes: Any
) -> None:
    audit.record(
        session,
        actor,
        f"legal_request.{verb}",
        target=("legal_request", request.id),
        changes=changes,
        organization_id=request.organization_id,
    )
