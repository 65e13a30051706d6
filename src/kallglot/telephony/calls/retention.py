"""Purging call records (``call_metadata``) and the agent activity log (``agent_activity``)."""

from __future__ import annotations

from kallglot.privacy.retention import PurgeBatch, purger
from kallglot.telephony.calls.models import CallRecord
from kallglot.telephony.routing.models import AgentActivity


@purger("call_metadata")
def purge_call_records(batch: PurgeBatch) -> int:
    return batch.delete_expired(CallRecord, CallRecord.created_at, held=(CallRecord.id, "call"))


@purger("agent_activity")
def purge_agent_activity(batch: PurgeBatch) -> int:
    return batch.delete_expired(
        AgentActivity, AgentActivity.created_at, held=(AgentActivity.agent_id, "agent")
    )
