"""Telephony: call records (the caller's number, the agent who answered), the agent activity
log, and KYC bundles naming the subject (kept: telecom regulation)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, or_, select, update

from kallglot.privacy.subjects import Erased, Exported, StoreContext, subject_store
from kallglot.telephony.calls.models import CallRecord
from kallglot.telephony.calls.service import numbers_of
from kallglot.telephony.kyc.models import KycBundle, KycDocument
from kallglot.telephony.kyc.service import bundle_details
from kallglot.telephony.routing.models import Agent, AgentActivity

KYC_KEPT = "KYC records are kept until the telecom regulation's end date (retain_until)"


def _agent_ids(context: StoreContext) -> list[str]:
    subject = context.subject
    if subject.user_id is None:
        return []
    return list(
        context.session.scalars(
            select(Agent.id).where(
                Agent.organization_id == subject.organization_id, Agent.user_id == subject.user_id
            )
        )
    )


def _caller_records(context: StoreContext) -> list[CallRecord]:
    subject = context.subject
    if subject.phone_hash is None:
        return []
    return list(
        context.session.scalars(
            select(CallRecord).where(
                CallRecord.organization_id == subject.organization_id,
                or_(
                    CallRecord.from_hash == subject.phone_hash,
                    CallRecord.to_hash == subject.phone_hash,
                ),
            )
        )
    )


def _call_row(record: CallRecord) -> dict[str, Any]:
    return {
        "kind": "call",
        "id": record.id,
        "direction": record.direction,
        "started_at": record.started_at.isoformat(),
        "ended_at": record.ended_at.isoformat() if record.ended_at else None,
        "outcome": record.outcome,
        "caller_language": record.caller_language,
        "mode": record.mode,
    }


@subject_store("telephony")
class TelephonyStore:
    def export(self, context: StoreContext) -> Exported:
        db = context.session
        out = Exported()
        for record in _caller_records(context):
            from_number, to_number = numbers_of(db, record)
            out.records.append({**_call_row(record), "from": from_number, "to": to_number})
        agents = _agent_ids(context)
        for record in db.scalars(select(CallRecord).where(CallRecord.agent_id.in_(agents))):
            out.records.append({**_call_row(record), "answered_by_you": True})
        for activity in db.scalars(select(AgentActivity).where(AgentActivity.agent_id.in_(agents))):
            out.records.append(
                {
                    "kind": "agent_activity",
                    "event": activity.event,
                    "from_state": activity.from_state,
                    "to_state": activity.to_state,
                    "at": activity.created_at.isoformat(),
                }
            )
        for bundle, details in _kyc_bundles(context):
            out.records.append(
                {"kind": "kyc_bundle", "id": bundle.id, "country": bundle.country, **details}
            )
            for document in db.scalars(
                select(KycDocument).where(KycDocument.bundle_id == bundle.id)
            ):
                name = f"kyc/{document.id}"
                out.files[name] = context.blobs.get(db, document.blob_id)
                out.records.append(
                    {"kind": "kyc_document", "file": name, "type": document.document_type}
                )
        return out

    def erase(self, context: StoreContext) -> Erased:
        db = context.session
        agents = _agent_ids(context)
        answered = db.scalars(select(CallRecord).where(CallRecord.agent_id.in_(agents))).all()
        held = {
            record.id: context.holds.on(record.id, record.session_id)
            for record in [*_caller_records(context), *answered]
            if context.holds.on(record.id, record.session_id)
        }
        callers = [record.id for record in _caller_records(context) if record.id not in held]
        db.execute(delete(CallRecord).where(CallRecord.id.in_(callers)))
        unlinked = [record.id for record in answered if record.id not in held]
        db.execute(update(CallRecord).where(CallRecord.id.in_(unlinked)).values(agent_id=None))
        activities = db.scalars(
            select(AgentActivity.id).where(AgentActivity.agent_id.in_(agents))
        ).all()
        db.execute(delete(AgentActivity).where(AgentActivity.id.in_(activities)))
        kept = len(_kyc_bundles(context))
        return Erased(
            removed=len(callers) + len(activities),
            kept=kept,
            kept_reason=KYC_KEPT if kept else None,
            held=tuple({"kind": "call", "id": ref, "holds": ids} for ref, ids in held.items()),
        )


def _kyc_bundles(context: StoreContext) -> list[tuple[KycBundle, dict[str, Any]]]:
    """The organization's KYC bundles whose details name the subject's email or number."""
    subject = context.subject
    needles = [value for value in (subject.email, subject.phone) if value]
    if not needles:
        return []
    found = []
    for bundle in context.session.scalars(
        select(KycBundle).where(KycBundle.organization_id == subject.organization_id)
    ):
        details = bundle_details(context.session, bundle)
        text = json.dumps(details).lower()
        if any(needle.lower() in text for needle in needles):
            found.append((bundle, details))
    return found
