"""Call records and the call flow around routing: inbound, ring timeout, answer, end, outbound."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from kallglot.core.errors import ConflictError, NotFoundError
from kallglot.core.ids import new_id
from kallglot.crypto import decrypt_text, encrypt_field, phone_lookup_hash
from kallglot.telephony.calls.models import CallRecord
from kallglot.telephony.numbers.models import PhoneNumber
from kallglot.telephony.numbers.service import active_number
from kallglot.telephony.routing import service as routing
from kallglot.telephony.routing.models import Agent, Queue

TABLE = "call_records"
MIN_RING_TIMEOUT_SECONDS = 5


def new_record(
    session: Session,
    organization_id: str,
    *,
    direction: str,
    from_number: str,
    to_number: str,
    now: datetime,
    number_id: str | None = None,
    queue_id: str | None = None,
    caller_language: str | None = None,
    mode: str = "bidirectional_translation",
    session_id: str | None = None,
    recording: bool = False,
) -> CallRecord:
    call_id = new_id("call")
    # The external party's number is erasable on its own (subject key by lookup hash).
    external = from_number if direction == "inbound" else to_number
    subject = phone_lookup_hash(session, organization_id, external)
    record = CallRecord(
        id=call_id,
        organization_id=organization_id,
        direction=direction,
        from_number=encrypt_field(
            session, organization_id, TABLE, call_id, "from_number", from_number, subject
        ),
        from_hash=phone_lookup_hash(session, organization_id, from_number),
        to_number=encrypt_field(
            session, organization_id, TABLE, call_id, "to_number", to_number, subject
        ),
        to_hash=phone_lookup_hash(session, organization_id, to_number),
        number_id=number_id,
        queue_id=queue_id,
        started_at=now,
        outcome="ringing",
        caller_language=caller_language,
        mode=mode,
        session_id=session_id,
        recording=recording,
    )
    session.add(record)
    session.flush()
    return record


def numbers_of(session: Session, record: CallRecord) -> tuple[str, str]:
    return (
        decrypt_text(session, TABLE, record.id, "from_number", record.from_number),
        decrypt_text(session, TABLE, record.id, "to_number", record.to_number),
    )


@dataclass(frozen=True)
class Routed:
    call: CallRecord
    offer: routing.Offer


def inbound(
    session: Session,
    *,
    to_number: str,
    from_number: str,
    now: datetime,
    caller_language: str | None = None,
    session_id: str | None = None,
    mode: str = "bidirectional_translation",
) -> Routed:
    """A call reached one of our numbers: record it and offer it to an agent (or overflow)."""
    number = active_number(session, to_number)
    if number is None:
        raise NotFoundError("No active number matches the called number.", code="number_not_found")
    language = caller_language or (number.languages[0] if len(number.languages) == 1 else None)
    call = new_record(
        session,
        number.organization_id,
        direction="inbound",
        from_number=from_number,
        to_number=number.e164,
        now=now,
        number_id=number.id,
        queue_id=number.queue_id,
        caller_language=language,
        mode=mode,
        session_id=session_id,
    )
    return Routed(call=call, offer=_offer(session, call, now))


def _offer(session: Session, call: CallRecord, now: datetime) -> routing.Offer:
    queue = session.get(Queue, call.queue_id) if call.queue_id else None
    if queue is None:
        _finish(call, "overflow_hangup", now)
        return routing.Offer(
            agent=None,
            overflow_action="hangup",
            overflow_message=routing.DEFAULT_OVERFLOW_MESSAGES["*"],
        )
    offer = routing.pick_agent(
        session,
        queue,
        call.caller_language,
        exclude=routing.offered_agents(session, call.id),
        call_id=call.id,
    )
    if offer.agent is None:
        _finish(call, f"overflow_{offer.overflow_action}", now)
    else:
        call.agent_id = offer.agent.id
        call.offered_at = now
    return offer


def ring_timeout(session: Session, call: CallRecord, now: datetime) -> routing.Offer:
    """The offered agent did not answer in time: next agent, or overflow."""
    if call.outcome != "ringing" or call.agent_id is None:
        raise ConflictError("The call is not ringing an agent.", code="call_not_ringing")
    agent = session.get(Agent, call.agent_id)
    if agent is not None:
        routing.missed(session, agent, call.id, now)
    call.agent_id = None
    return _offer(session, call, now)


def ring_timeouts_due(session: Session, now: datetime) -> list[tuple[CallRecord, routing.Offer]]:
    """Every call that rang its agent longer than its queue's ring timeout goes on to the next
    agent (or overflows). Run by the transports' timer or a periodic job."""
    ringing = session.scalars(
        select(CallRecord)
        .where(
            CallRecord.outcome == "ringing",
            CallRecord.agent_id.is_not(None),
            CallRecord.offered_at.is_not(None),
            CallRecord.offered_at <= now - timedelta(seconds=MIN_RING_TIMEOUT_SECONDS),
        )
        .order_by(CallRecord.id)
        .with_for_update(skip_locked=True)
    ).all()
    moved = []
    for call in ringing:
        queue = session.get(Queue, call.queue_id) if call.queue_id else None
        timeout = timedelta(seconds=queue.ring_timeout_seconds if queue else 0)
        if call.offered_at is not None and call.offered_at + timeout <= now:
            moved.append((call, ring_timeout(session, call, now)))
    return moved


def answer(session: Session, call: CallRecord, agent: Agent, now: datetime) -> None:
    if call.outcome != "ringing" or call.agent_id != agent.id:
        raise ConflictError("This call is not offered to you.", code="call_not_offered")
    call.outcome = "in_progress"
    call.answered_at = now
    languages = routing.languages_of(session, agent.id)
    if call.caller_language in languages:
        call.agent_language = call.caller_language
    else:
        call.agent_language = languages[0] if languages else None
    routing.answered(session, agent, call.id, now)


def end(session: Session, call: CallRecord, now: datetime, reason: str | None = None) -> None:
    """Close the record (``completed`` if answered, else ``abandoned``) and free its agent;
    a record already closed is left as it is."""
    if call.ended_at is not None:
        return
    call.end_reason = reason
    agent = session.get(Agent, call.agent_id) if call.agent_id else None
    if call.outcome == "in_progress":
        _finish(call, "completed", now)
        if agent is not None:
            routing.call_ended(session, agent, call.id, now)
    else:
        _finish(call, "abandoned", now)
        if agent is not None:
            routing.missed(session, agent, call.id, now)


def _finish(call: CallRecord, outcome: str, now: datetime) -> None:
    call.outcome = outcome
    call.ended_at = now
    if call.answered_at is not None:
        call.duration_seconds = int((now - call.answered_at).total_seconds())
    else:
        call.duration_seconds = 0


def outbound(
    session: Session,
    agent: Agent,
    number: PhoneNumber,
    to_number: str,
    now: datetime,
    *,
    mode: str,
    caller_language: str | None,
) -> CallRecord:
    """An agent calls out from the console with caller ID from an owned, active number."""
    if number.status != "active" or number.organization_id != agent.organization_id:
        raise ConflictError(
            "The caller ID must be an active number of yours.",
            code="caller_id_not_owned",
            param="from_number_id",
        )
    if agent.active_calls >= agent.max_concurrent_calls:
        raise ConflictError("You are already on a call.", code="agent_on_call")
    call = new_record(
        session,
        agent.organization_id,
        direction="outbound",
        from_number=number.e164,
        to_number=to_number,
        now=now,
        number_id=number.id,
        caller_language=caller_language,
        mode=mode,
    )
    call.agent_id = agent.id
    agent.active_calls += 1
    routing.log_activity(session, agent, "call_placed", call_id=call.id)
    return call


@dataclass(frozen=True)
class CallFilters:
    direction: str | None = None
    outcome: str | None = None
    agent_id: str | None = None
    queue_id: str | None = None
    number_id: str | None = None
    session_id: str | None = None
    phone: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def filtered(
    session: Session, organization_id: str, filters: CallFilters, only_agent: str | None
) -> Select[CallRecord]:
    statement = select(CallRecord).where(CallRecord.organization_id == organization_id)
    if only_agent is not None:
        statement = statement.where(CallRecord.agent_id == only_agent)
    for column, value in (
        (CallRecord.direction, filters.direction),
        (CallRecord.outcome, filters.outcome),
        (CallRecord.agent_id, filters.agent_id),
        (CallRecord.queue_id, filters.queue_id),
        (CallRecord.number_id, filters.number_id),
        (CallRecord.session_id, filters.session_id),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if filters.phone:
        digest = phone_lookup_hash(session, organization_id, filters.phone)
        statement = statement.where(
            or_(CallRecord.from_hash == digest, CallRecord.to_hash == digest)
        )
    if filters.since:
        statement = statement.where(CallRecord.started_at >= filters.since)
    if filters.until:
        statement = statement.where(CallRecord.started_at < filters.until)
    return statement
