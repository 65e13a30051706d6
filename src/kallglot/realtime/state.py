"""The session state machine: created → connecting → active → ending → ended, or failed."""

from __future__ import annotations

from enum import StrEnum

from kallglot.core.errors import ConflictError


class SessionStatus(StrEnum):
    CREATED = "created"
    CONNECTING = "connecting"
    ACTIVE = "active"
    ENDING = "ending"
    ENDED = "ended"
    FAILED = "failed"


TERMINAL = frozenset({SessionStatus.ENDED, SessionStatus.FAILED})

_ALLOWED: dict[SessionStatus, frozenset[SessionStatus]] = {
    SessionStatus.CREATED: frozenset(
        {SessionStatus.CONNECTING, SessionStatus.ENDING, SessionStatus.FAILED}
    ),
    SessionStatus.CONNECTING: frozenset(
        {SessionStatus.ACTIVE, SessionStatus.ENDING, SessionStatus.FAILED}
    ),
    SessionStatus.ACTIVE: frozenset({SessionStatus.ENDING, SessionStatus.FAILED}),
    SessionStatus.ENDING: frozenset({SessionStatus.ENDED, SessionStatus.FAILED}),
    SessionStatus.ENDED: frozenset(),
    SessionStatus.FAILED: frozenset(),
}


def check_transition(current: SessionStatus, target: SessionStatus) -> None:
    """Raise ConflictError unless ``current → target`` is a transition the machine allows."""
    if target not in _ALLOWED[current]:
        raise ConflictError(
            f"A session cannot go from '{current}' to '{target}'.", code="invalid_session_state"
        )
