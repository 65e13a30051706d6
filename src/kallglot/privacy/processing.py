"""Restriction and objection, applied where data is processed: calls and analytics.

:func:`kallglot.privacy.requests.processing_allowed` answers for one subject; here the
subjects are found from what the processing touches — a call session's parties (the caller's
and callee's numbers, by their lookup hashes, and the answering agent's user) — so that
realtime recording and organization analytics can ask per session.

Policy (README, privacy section):

- *Restriction* limits every purpose. A restricted party's call still runs (live
  translation is the service they are using at that moment, nothing of it is kept by it),
  but no recording is made and no transcript turn is stored.
- *Objection* covers the legitimate-interest purposes (analytics, quality sampling, product
  improvement): the call is recorded and transcribed as the organization configured.
- Both take the subject's sessions and agent activity out of organization analytics. Billing
  usage and invoices still count them: invoicing is a contract and legal obligation, not
  analytics, and totals on an invoice must match the minutes delivered.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from kallglot.privacy.models import ProcessingLimit
from kallglot.privacy.requests import ALL_PROCESSING, Purpose, processing_allowed
from kallglot.telephony.calls.models import CallRecord
from kallglot.telephony.routing.models import Agent


def session_subject_refs(db: Session, organization_id: str, session_id: str) -> tuple[str, ...]:
    """The subject references of a session's parties (number hashes, agent user id)."""
    rows = db.execute(
        select(CallRecord.from_hash, CallRecord.to_hash, Agent.user_id)
        .outerjoin(Agent, Agent.id == CallRecord.agent_id)
        .where(CallRecord.organization_id == organization_id, CallRecord.session_id == session_id)
    ).all()
    return tuple(sorted({ref for row in rows for ref in row if ref}))


def session_processing_allowed(
    db: Session, organization_id: str, session_id: str, purpose: Purpose
) -> bool:
    """False when any party of the session restricted processing or objected to ``purpose``."""
    refs = session_subject_refs(db, organization_id, session_id)
    return processing_allowed(db, organization_id, refs, purpose)


def limited_refs(db: Session, organization_id: str, purpose: Purpose) -> set[str]:
    """Subject references with a standing restriction, or an objection to ``purpose``."""
    limits = db.scalars(
        select(ProcessingLimit).where(
            ProcessingLimit.organization_id == organization_id,
            ProcessingLimit.lifted_at.is_(None),
        )
    )
    return {
        limit.subject_ref
        for limit in limits
        if ALL_PROCESSING in limit.purposes or purpose.value in limit.purposes
    }


def _limited_records(organization_id: str, refs: set[str]) -> ColumnElement[bool]:
    """Call records of the organization with a party among ``refs``."""
    agents = select(Agent.id).where(
        Agent.organization_id == organization_id, Agent.user_id.in_(refs)
    )
    return and_(
        CallRecord.organization_id == organization_id,
        or_(
            CallRecord.from_hash.in_(refs),
            CallRecord.to_hash.in_(refs),
            CallRecord.agent_id.in_(agents),
        ),
    )


def excluded_sessions(db: Session, organization_id: str, purpose: Purpose) -> set[str]:
    """Session ids that ``purpose`` must leave out: a party of each is limited for it."""
    refs = limited_refs(db, organization_id, purpose)
    if not refs:
        return set()
    rows = db.scalars(
        select(CallRecord.session_id).where(
            _limited_records(organization_id, refs), CallRecord.session_id.is_not(None)
        )
    )
    return {session_id for session_id in rows if session_id}


def excluded_call_records(db: Session, organization_id: str, purpose: Purpose) -> set[str]:
    """Call record ids that ``purpose`` must leave out."""
    refs = limited_refs(db, organization_id, purpose)
    if not refs:
        return set()
    return set(db.scalars(select(CallRecord.id).where(_limited_records(organization_id, refs))))
