"""Purging call records (``call_metadata``) and the agent activity log (``agent_activity``)."""

from __future__ import annotations

from sqlalchemy import delete, select

from kallglot.privacy.retention import PurgeBatch, purger
from kallglot.telephony.calls.models import CallRecord
from kallglot.telephony.routing.models import AgentActivity


@purger("call_metadata")
def purge_call_records(batch: PurgeBatch) -> int:
    ids = batch.session.scalars(
        select(CallRecord.id)
        .where(
            CallRecord.organization_id == batch.organization_id,
            CallRecord.created_at < batch.cutoff,
            CallRecord.id.not_in(batch.held_refs("call")),
        )
        .limit(batch.limit)
    ).all()
    batch.session.execute(delete(CallRecord).where(CallRecord.id.in_(ids)))
    return len(ids)


@purger("agent_activity")
def purge_agent_activity(batch: PurgeBatch) -> int:
    ids = batch.session.scalars(
        select(AgentActivity.id)
        .where(
            AgentActivity.organization_id == batch.organization_id,
            AgentActivity.created_at < batch.cutoff,
            AgentActivity.agent_id.not_in(batch.held_refs("agent")),
        )
        .limit(batch.limit)
    ).all()
    batch.session.execute(delete(AgentActivity).where(AgentActivity.id.in_(ids)))
    return len(ids)
