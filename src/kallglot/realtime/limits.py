"""The hook through which a higher domain (billing) gates and limits sessions.

Realtime knows only this protocol; billing installs its policy on the hub at start-up
(``hub.policy = …``). Without one every session is admitted and runs until it ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlalchemy.orm import Session

from kallglot.realtime.models import CallSession


class LimitAction(StrEnum):
    WARN = "warn"  # tell the parties the call will end soon
    END = "end"  # end the call now, gracefully


@dataclass(frozen=True)
class LimitVerdict:
    session_id: str
    action: LimitAction
    code: str
    seconds_left: int


class SessionPolicy(Protocol):
    def admit(self, db: Session, organization_id: str) -> None:
        """Raise a ``KallglotError`` if the organization may not start a session now."""

    def verdicts(self, db: Session, live: Sequence[CallSession]) -> list[LimitVerdict]:
        """What to do about each live session (sessions not named run on)."""


class OpenPolicy:
    """Admits everything and never limits."""

    def admit(self, db: Session, organization_id: str) -> None:
        return None

    def verdicts(self, db: Session, live: Sequence[CallSession]) -> list[LimitVerdict]:
        return []
