"""Which session an INVITE joins, and whether it may (blocking: run in a worker thread).

- ``sip:<session_id>@host`` joins, as its caller, a session created with
  ``routing.type = "sip"`` that has not ended and has no caller yet (the agent may already
  be connected with the session's stream token, which stays valid).
- ``sip:+4930…@host`` is a call to one of our numbers, answered as Twilio's
  voice webhook answers it (:func:`kallglot.telephony.inbound.route_inbound`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.models import CallSession
from kallglot.realtime.protocol import Party
from kallglot.realtime.schemas import Routing
from kallglot.realtime.state import SessionStatus
from kallglot.telephony.inbound import route_inbound

SESSION_USER = re.compile(r"^sess_[0-9A-Za-z]{26}$")
NUMBER_USER = re.compile(r"^\+?[0-9]{6,15}$")
ENDED = {SessionStatus.ENDED.value, SessionStatus.FAILED.value}


@dataclass(frozen=True)
class Target:
    """The session to join: by its stream token when the gateway created it (then the
    gateway also ends it on failure), or as the loaded session the gateway authorised."""

    session_id: str
    token: str | None
    call: CallSession | None
    created_here: bool


@dataclass(frozen=True)
class Rejection:
    status: int
    reason: str
    warning: str | None = None
    challenge: str | None = None  # WWW-Authenticate of a 401


_REFUSALS = {
    "busy": Rejection(486, "Busy Here"),
    "unknown_number": Rejection(404, "Not Found"),
    "overflow": Rejection(480, "Temporarily Unavailable"),
}


def resolve(
    hub: RealtimeHub, called_user: str, caller_user: str, token_ttl: timedelta
) -> Target | Rejection:
    if SESSION_USER.match(called_user):
        return _join_session(hub, called_user)
    if NUMBER_USER.match(called_user):
        number = called_user if called_user.startswith("+") else "+" + called_user
        decision = route_inbound(
            hub, token_ttl, number, caller_user, session_routing=Routing(type="sip")
        )
        if decision.action != "stream":
            # No carrier call id is passed, so a call is never a "duplicate" here.
            rejection = _REFUSALS[decision.action]
            return Rejection(rejection.status, rejection.reason, decision.overflow_message)
        return Target(decision.session_id, decision.stream_token, None, created_here=True)
    return Rejection(404, "Not Found")


def _join_session(hub: RealtimeHub, session_id: str) -> Target | Rejection:
    with hub.sessions() as db:
        call = db.get(CallSession, session_id)
        if call is None or call.status in ENDED:
            return Rejection(404, "Not Found")
        if call.provider != "sip":
            return Rejection(403, "Forbidden", "the session was not created for SIP")
        return Target(call.id, None, call, created_here=False)


def has_caller(hub: RealtimeHub, session_id: str) -> bool:
    """A caller leg is already in the call on this node (call on the event loop)."""
    runtime = hub.runtimes.get(session_id)
    if runtime is None or runtime.ended.is_set():
        return False
    return any(c.party is Party.CALLER for c in runtime.connections.values())
