"""Agent presence on the shared board, so every node sees who is available now.

The database stays the record of an agent's presence (routing reserves agents in
the same transaction). Every committed change is mirrored onto the shared state
(:mod:`kallglot.infra.shared_state`: Redis with several nodes), keyed by organization,
whichever node made it; consoles and dispatchers on any node read the board
without a database round trip.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, sessionmaker

from kallglot.core.errors import KallglotError
from kallglot.infra import shared_state
from kallglot.infra.shared_state import SharedState
from kallglot.telephony.routing.models import Agent

logger = logging.getLogger(__name__)

_PENDING = "kallglot.presence_changes"


def board_key(organization_id: str) -> str:
    return f"presence:{organization_id}"


def board(state: SharedState, organization_id: str) -> dict[str, dict[str, str]]:
    """Agent id → ``{"presence", "changed_at"}`` for the organization's agents."""
    return {
        agent_id: json.loads(value)
        for agent_id, value in state.fields(board_key(organization_id)).items()
    }


def watch(sessions: sessionmaker[Session]) -> None:
    """Mirror presence changes committed through ``sessions`` onto its shared state."""
    event.listen(sessions, "after_flush", _collect)
    event.listen(sessions, "after_commit", _publish)
    event.listen(sessions, "after_soft_rollback", _forget)


def _collect(session: Session, _context: Any) -> None:
    for instance in (*session.new, *session.dirty):
        if isinstance(instance, Agent) and inspect(instance).attrs.presence.history.has_changes():
            changes: dict[tuple[str, str], str] = session.info.setdefault(_PENDING, {})
            changes[(instance.organization_id, instance.id)] = json.dumps(
                {
                    "presence": instance.presence,
                    "changed_at": instance.presence_changed_at.isoformat(),
                }
            )


def _publish(session: Session) -> None:
    changes: dict[tuple[str, str], str] = session.info.pop(_PENDING, {})
    state = shared_state.of(session)
    if state is None:
        return
    try:
        for (organization_id, agent_id), value in changes.items():
            state.set_field(board_key(organization_id), agent_id, value)
    except KallglotError:
        # The change is committed; the board catches up with the agent's next change.
        logger.warning("presence board not updated: shared state unavailable")


def _forget(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING, None)
