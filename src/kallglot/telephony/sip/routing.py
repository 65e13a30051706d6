"""Which session an INVITE joins, and whether it may (blocking: run in a worker thread).

- ``sip:<session_id>@host`` joins a session created with ``routing.type = "sip"`` that
  nobody has joined yet (status ``created``); the gateway mints its stream token.
- ``sip:+4930…@host`` (or ``tel:``) is a call to one of our numbers, answered as Twilio's
  voice webhook answers it (:func:`kallglot.telephony.calls.answer.answer_inbound`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from kallglot.db.engine import transaction
from kallglot.realtime import service
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.models import CallSession
from kallglot.realtime.schemas import Routing
from kallglot.realtime.state import SessionStatus
from kallglot.telephony.calls.answer import Answered, Refusal, Refused, answer_inbound

SESSION_USER = re.compile(r"^sess_[0-9A-Za-z]{26}$")
NUMBER_USER = re.compile(r"^\+?[0-9]{6,15}$")
ENDED = {SessionStatus.ENDED.value, SessionStatus.FAILED.value}


@dataclass(frozen=True)
class Target:
    """The session to join, and whether the gateway created it (then it also ends it)."""

    session_id: str
    token: str
    created_here: bool


@dataclass(frozen=True)
class Rejection:
    status: int
    reason: str
    warning: str | None = None


_REFUSALS = {
    Refusal.BUSY: Rejection(486, "Busy Here"),
    Refusal.UNKNOWN_NUMBER: Rejection(404, "Not Found"),
    Refusal.NO_AGENT: Rejection(480, "Temporarily Unavailable"),
}


def resolve(
    hub: RealtimeHub, called_user: str, caller_user: str, token_ttl: timedelta
) -> Target | Rejection:
    if SESSION_USER.match(called_user):
        return _join_session(hub, called_user, token_ttl)
    if NUMBER_USER.match(called_user):
        number = called_user if called_user.startswith("+") else "+" + called_user
        outcome = answer_inbound(hub, number, caller_user, token_ttl, Routing(type="sip"))
        if isinstance(outcome, Refused):
            rejection = _REFUSALS[outcome.reason]
            return Rejection(rejection.status, rejection.reason, outcome.message)
        assert isinstance(outcome, Answered)
        return Target(outcome.session_id, outcome.token, created_here=True)
    return Rejection(404, "Not Found")


def _join_session(hub: RealtimeHub, session_id: str, token_ttl: timedelta) -> Target | Rejection:
    with transaction(hub.sessions) as db:
        call = db.get(CallSession, session_id, with_for_update=True)
        if call is None or call.status in ENDED:
            return Rejection(404, "Not Found")
        if call.provider != "sip":
            return Rejection(403, "Forbidden", "the session was not created for SIP")
        if call.status != SessionStatus.CREATED.value or session_id in hub.runtimes:
            return Rejection(486, "Busy Here", "the session already has its caller")
        grant = service.issue_stream_token(call, token_ttl)
        return Target(call.id, grant.token, created_here=False)
