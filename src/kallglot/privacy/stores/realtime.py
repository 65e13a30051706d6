"""Calls of the subject: their sessions' transcripts, recordings, timings and webhook events.

The sessions are found through the subject's call records (the caller's number, or the agent
who answered), so this store runs before the telephony store deletes those records.
"""

from __future__ import annotations

from sqlalchemy import delete, or_, select

from kallglot.privacy.subjects import Erased, Exported, StoreContext, subject_store
from kallglot.realtime.models import (
    CallSession,
    Recording,
    SessionTransition,
    TranscriptTurn,
    UtteranceTiming,
)
from kallglot.realtime.transcripts import open_turn_text
from kallglot.realtime.webhooks import WebhookDelivery, WebhookEvent
from kallglot.telephony.calls.models import CallRecord
from kallglot.telephony.routing.models import Agent


def subject_session_ids(context: StoreContext) -> tuple[list[str], bool]:
    """The subject's session ids, and whether the subject is the agent (not the caller)."""
    subject, db = context.subject, context.session
    query = select(CallRecord.session_id).where(
        CallRecord.organization_id == subject.organization_id,
        CallRecord.session_id.is_not(None),
    )
    if subject.phone_hash is not None:
        matches = query.where(
            or_(
                CallRecord.from_hash == subject.phone_hash, CallRecord.to_hash == subject.phone_hash
            )
        )
        return [sid for sid in db.scalars(matches) if sid], False
    if subject.user_id is not None:
        agents = select(Agent.id).where(
            Agent.organization_id == subject.organization_id, Agent.user_id == subject.user_id
        )
        matches = query.where(CallRecord.agent_id.in_(agents))
        return [sid for sid in db.scalars(matches) if sid], True
    return [], False


def _turns(context: StoreContext, session_ids: list[str], agent: bool) -> list[TranscriptTurn]:
    query = select(TranscriptTurn).where(TranscriptTurn.session_id.in_(session_ids))
    if agent:
        query = query.where(TranscriptTurn.speaker == "agent")
    return list(context.session.scalars(query.order_by(TranscriptTurn.session_id, "sequence")))


@subject_store("calls")
class CallSessionStore:
    def export(self, context: StoreContext) -> Exported:
        db = context.session
        session_ids, agent = subject_session_ids(context)
        out = Exported()
        for turn in _turns(context, session_ids, agent):
            text, translation = open_turn_text(db, turn)
            out.records.append(
                {
                    "kind": "transcript_turn",
                    "session_id": turn.session_id,
                    "sequence": turn.sequence,
                    "speaker": turn.speaker,
                    "language": turn.language,
                    "text": text,
                    "translation_language": turn.translation_language,
                    "translation": translation,
                    "start_ms": turn.start_ms,
                    "end_ms": turn.end_ms,
                }
            )
        for recording in db.scalars(select(Recording).where(Recording.session_id.in_(session_ids))):
            name = f"recordings/{recording.id}.{recording.format}"
            out.files[name] = context.blobs.get(db, recording.blob_id)
            out.records.append(
                {
                    "kind": "recording",
                    "session_id": recording.session_id,
                    "file": name,
                    "duration_seconds": recording.duration_seconds,
                }
            )
        for event in _events(context, set(session_ids)):
            out.records.append({"kind": "webhook_event", "type": event.type, "data": event.data})
        return out

    def erase(self, context: StoreContext) -> Erased:
        db = context.session
        all_ids, agent = subject_session_ids(context)
        held = tuple(
            {"kind": "call_session", "id": sid, "holds": context.holds.on(sid)}
            for sid in all_ids
            if context.holds.on(sid)
        )
        session_ids = [sid for sid in all_ids if not context.holds.on(sid)]
        if not session_ids:
            return Erased(removed=0, held=held)
        turn_ids = [turn.id for turn in _turns(context, session_ids, agent)]
        removed = len(turn_ids)
        db.execute(delete(TranscriptTurn).where(TranscriptTurn.id.in_(turn_ids)))
        # A recording holds both voices: it goes whichever party asks.
        for recording in db.scalars(select(Recording).where(Recording.session_id.in_(session_ids))):
            context.blobs.delete(recording.blob_id)
            db.delete(recording)
            removed += 1
        removed += _erase_events(context, set(session_ids))
        if not agent:
            for table in (UtteranceTiming, SessionTransition):
                db.execute(delete(table).where(table.session_id.in_(session_ids)))
            removed += len(session_ids)
            db.execute(delete(CallSession).where(CallSession.id.in_(session_ids)))
        db.flush()
        return Erased(removed=removed, held=held)


def _events(context: StoreContext, session_ids: set[str]) -> list[WebhookEvent]:
    """Webhook events (the outbox) about these sessions."""
    if not session_ids:
        return []
    query = select(WebhookEvent).where(
        WebhookEvent.organization_id == context.subject.organization_id
    )
    return [
        event
        for event in context.session.scalars(query.order_by(WebhookEvent.id))
        if event.data.get("session_id") in session_ids
    ]


def _erase_events(context: StoreContext, session_ids: set[str]) -> int:
    """Webhook events about these sessions, with their deliveries."""
    db = context.session
    events = [event.id for event in _events(context, session_ids)]
    db.execute(delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(events)))
    db.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(events)))
    return len(events)
