"""The session state machine allows exactly the documented transitions."""

from __future__ import annotations

import pytest

from kallglot.core.errors import ConflictError
from kallglot.realtime.state import SessionStatus, check_transition

S = SessionStatus


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.CREATED, S.CONNECTING),
        (S.CONNECTING, S.ACTIVE),
        (S.ACTIVE, S.ENDING),
        (S.ENDING, S.ENDED),
        (S.ACTIVE, S.FAILED),
        (S.CREATED, S.ENDING),
    ],
)
def test_allowed(current: SessionStatus, target: SessionStatus) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.ENDED, S.ACTIVE), (S.FAILED, S.ENDING), (S.ACTIVE, S.CREATED), (S.CREATED, S.ENDED)],
)
def test_refused(current: SessionStatus, target: SessionStatus) -> None:
    with pytest.raises(ConflictError):
        check_transition(current, target)
