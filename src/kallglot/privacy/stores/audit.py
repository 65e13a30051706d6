"""Audit records about the subject: exported, and kept on erasure (they name ids, not people)."""

from __future__ import annotations

from sqlalchemy import or_, select

from kallglot.audit.models import AuditEvent
from kallglot.privacy.subjects import Erased, Exported, StoreContext, subject_store

AUDIT_KEPT = (
    "the tamper-evident security audit log is kept for its retention period; "
    "it refers to the subject by pseudonymous id only"
)


@subject_store("audit")
class AuditStore:
    def _events(self, context: StoreContext) -> list[AuditEvent]:
        subject = context.subject
        if subject.user_id is None:
            return []
        return list(
            context.session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.organization_id == subject.organization_id,
                    or_(
                        AuditEvent.actor_id == subject.user_id,
                        AuditEvent.target_id == subject.user_id,
                    ),
                )
                .order_by(AuditEvent.sequence)
            )
        )

    def export(self, context: StoreContext) -> Exported:
        return Exported(
            records=[
                {
                    "kind": "audit_event",
                    "at": event.occurred_at.isoformat(),
                    "action": event.action,
                    "actor_id": event.actor_id,
                    "target_id": event.target_id,
                    "result": event.result,
                    "ip": event.ip,
                }
                for event in self._events(context)
            ]
        )

    def erase(self, context: StoreContext) -> Erased:
        kept = len(self._events(context))
        return Erased(removed=0, kept=kept, kept_reason=AUDIT_KEPT if kept else None)
