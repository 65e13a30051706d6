"""The hooks through which higher domains gate, limit and restrict sessions.

Realtime knows only these protocols. Billing installs its session policy on the hub at
start-up (``hub.policy = …``), privacy its processing policy (``hub.processing = …``).
Without them every session is admitted, runs until it ends and may be processed.
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


class ProcessingPolicy(Protocol):
    def recording_allowed(self, db: Session, organization_id: str, session_id: str) -> bool:
        """False when a party of the session restricted processing or objected to recording."""

    def analytics_excluded(self, db: Session, organization_id: str) -> set[str]:
        """Ids of the sessions left out of the organization's analytics."""


class OpenProcessing:
    """Allows all processing."""

    def recording_allowed(self, db: Session, organization_id: str, session_id: str) -> bool:
        return True

    def analytics_excluded(self, db: Session, organization_id: str) -> set[str]:
        return set()


class OpenPolicy:
    """Admits everything and never limits."""

    def admit(self, db: Session, organization_id: str) -> None:
        return None

    def verdicts(self, db: Session, live: Sequence[CallSession]) -> list[LimitVerdict]:
        return []
