"""Routing: inbound call → number → queue → the longest-idle available agent who fits.

An agent is reserved for a call by a conditional update (``active_calls < max``) on a row
locked with ``SELECT … FOR UPDATE SKIP LOCKED`` (PostgreSQL): two calls routed at the same
moment never get the same agent, and neither waits for the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from kallglot.core.errors import ConflictError
from kallglot.core.ids import new_id
from kallglot.telephony.routing.models import (
    Agent,
    AgentActivity,
    AgentLanguage,
    Queue,
    QueueMember,
)

PRESENCES = ("offline", "available", "busy", "wrap_up", "away")
DEFAULT_OVERFLOW_MESSAGES = {
    "*": "Sorry, nobody can take your call right now. Please try again later.",
    "de": "Leider ist gerade niemand erreichbar. Bitte versuchen Sie es später noch einmal.",
    "fr": "Désolé, personne n'est disponible pour le moment. Veuillez rappeler plus tard.",
    "es": "Lo sentimos, nadie puede atender su llamada ahora. Inténtelo más tarde.",
    "it": "Siamo spiacenti, al momento nessuno è disponibile. Riprovi più tardi.",
}


def log_activity(
    session: Session,
    agent: Agent,
    event: str,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    call_id: str | None = None,
) -> AgentActivity:
    entry = AgentActivity(
        id=new_id("act"),
        organization_id=agent.organization_id,
        agent_id=agent.id,
        event=event,
        from_state=from_state,
        to_state=to_state,
        call_id=call_id,
    )
    session.add(entry)
    return entry


def create_agent(
    session: Session,
    organization_id: str,
    user_id: str,
    display_name: str,
    languages: Iterable[str],
    now: datetime,
) -> Agent:
    exists = session.scalar(
        select(Agent.id).where(Agent.organization_id == organization_id, Agent.user_id == user_id)
    )
    if exists:
        raise ConflictError("This member is already an agent.", code="agent_exists")
    agent = Agent(
        id=new_id("agt"),
        organization_id=organization_id,
        user_id=user_id,
        display_name=display_name,
        presence="offline",
        presence_changed_at=now,
        idle_since=now,
        active_calls=0,
        max_concurrent_calls=1,
    )
    session.add(agent)
    session.flush()
    set_languages(session, agent, languages)
    return agent


def set_languages(session: Session, agent: Agent, languages: Iterable[str]) -> None:
    session.execute(delete(AgentLanguage).where(AgentLanguage.agent_id == agent.id))
    for language in sorted({code.lower() for code in languages}):
        session.add(AgentLanguage(agent_id=agent.id, language=language))
    session.flush()


def languages_of(session: Session, agent_id: str) -> list[str]:
    return list(
        session.scalars(
            select(AgentLanguage.language)
            .where(AgentLanguage.agent_id == agent_id)
            .order_by(AgentLanguage.language)
        )
    )


def set_presence(session: Session, agent: Agent, presence: str, now: datetime) -> None:
    """Change presence; sign-in and sign-out are logged beside the state change."""
    previous = agent.presence
    if previous == presence:
        return
    if presence == "offline" and agent.active_calls > 0:
        raise ConflictError("Finish the current call first.", code="agent_on_call")
    if previous == "offline":
        log_activity(session, agent, "signed_in", call_id=None)
    agent.presence = presence
    agent.presence_changed_at = now
    if presence == "available":
        agent.idle_since = now
    log_activity(session, agent, "state_changed", from_state=previous, to_state=presence)
    if presence == "offline":
        log_activity(session, agent, "signed_out")


def set_queue_members(session: Session, queue: Queue, agent_ids: Iterable[str]) -> None:
    session.execute(delete(QueueMember).where(QueueMember.queue_id == queue.id))
    for agent_id in sorted(set(agent_ids)):
        session.add(QueueMember(queue_id=queue.id, agent_id=agent_id))
    session.flush()


@dataclass(frozen=True)
class Offer:
    """An agent reserved for a call (ringing), or ``None`` with the overflow to play."""

    agent: Agent | None
    overflow_action: str | None = None
    overflow_message: str | None = None


def _candidates(
    session: Session, queue_id: str, language: str | None, exclude: frozenset[str], limit: int
) -> list[Agent]:
    statement = (
        select(Agent)
        .join(QueueMember, QueueMember.agent_id == Agent.id)
        .where(
            QueueMember.queue_id == queue_id,
            Agent.presence == "available",
            Agent.active_calls < Agent.max_concurrent_calls,
        )
        .order_by(Agent.idle_since, Agent.id)
        .limit(limit)
        .with_for_update(of=Agent, skip_locked=True)
    )
    if exclude:
        statement = statement.where(Agent.id.not_in(exclude))
    if language:
        statement = statement.where(
            Agent.id.in_(select(AgentLanguage.agent_id).where(AgentLanguage.language == language))
        )
    return list(session.scalars(statement))


def _reserve(session: Session, agent: Agent) -> bool:
    """Take one call slot of the agent, unless another transaction took the last one."""
    result = session.execute(
        update(Agent)
        .where(
            Agent.id == agent.id,
            Agent.presence == "available",
            Agent.active_calls < Agent.max_concurrent_calls,
        )
        .values(active_calls=Agent.active_calls + 1)
        .execution_options(synchronize_session=False)
    )
    reserved = bool(getattr(result, "rowcount", 0) == 1)
    if reserved:
        session.refresh(agent)
    return reserved


def pick_agent(
    session: Session,
    queue: Queue,
    caller_language: str | None,
    *,
    exclude: Iterable[str] = (),
    call_id: str | None = None,
) -> Offer:
    """Reserve the longest-idle available agent of ``queue``: one who speaks the caller's
    language first, anyone available (the call is translated) otherwise; else overflow."""
    excluded = set(exclude)
    languages = [caller_language.lower()] if caller_language else []
    for language in [*languages, None]:
        while True:
            # One row at a time: a concurrent transaction skips it and takes the next agent.
            found = _candidates(session, queue.id, language, frozenset(excluded), limit=1)
            if not found:
                break
            agent = found[0]
            if _reserve(session, agent):
                log_activity(session, agent, "call_offered", call_id=call_id)
                return Offer(agent=agent)
            excluded.add(agent.id)
    return Offer(
        agent=None,
        overflow_action=queue.overflow_action,
        overflow_message=overflow_message(queue, caller_language),
    )


def overflow_message(queue: Queue, caller_language: str | None) -> str:
    messages = {**DEFAULT_OVERFLOW_MESSAGES, **(queue.overflow_messages or {})}
    if caller_language and caller_language.lower() in messages:
        return messages[caller_language.lower()]
    return messages["*"]


def _release_slot(agent: Agent) -> None:
    agent.active_calls = max(0, agent.active_calls - 1)


def answered(session: Session, agent: Agent, call_id: str, now: datetime) -> None:
    log_activity(session, agent, "call_answered", call_id=call_id)
    previous = agent.presence
    agent.presence = "busy"
    agent.presence_changed_at = now
    # Tied to the call: its end puts the agent back to ``previous``.
    log_activity(
        session, agent, "state_changed", from_state=previous, to_state="busy", call_id=call_id
    )


def missed(session: Session, agent: Agent, call_id: str, now: datetime) -> None:
    """The ring timed out: the slot is free again; the agent keeps their place by idle time."""
    _release_slot(agent)
    log_activity(session, agent, "call_missed", call_id=call_id)


def call_ended(session: Session, agent: Agent, call_id: str, now: datetime) -> None:
    """After a call the agent is back to what they were before it (``available``, say), so
    the next call reaches them; a presence they chose during the call is kept, and an agent
    still on another call stays busy."""
    _release_slot(agent)
    log_activity(session, agent, "call_ended", call_id=call_id)
    if agent.presence != "busy" or agent.active_calls > 0:
        return
    before = session.scalar(
        select(AgentActivity.from_state)
        .where(
            AgentActivity.agent_id == agent.id,
            AgentActivity.call_id == call_id,
            AgentActivity.event == "state_changed",
            AgentActivity.to_state == "busy",
        )
        .order_by(AgentActivity.id.desc())
        .limit(1)
    )
    restored = before if before in PRESENCES and before != "busy" else "available"
    agent.presence = restored
    agent.presence_changed_at = now
    agent.idle_since = now
    log_activity(
        session, agent, "state_changed", from_state="busy", to_state=restored, call_id=call_id
    )


def offered_agents(session: Session, call_id: str) -> list[str]:
    return list(
        session.scalars(
            select(AgentActivity.agent_id).where(
                AgentActivity.call_id == call_id, AgentActivity.event == "call_offered"
            )
        )
    )
