"""An inbound call to one of our numbers becomes a session, whatever carrier brought it.

Twilio's voice webhook and the SIP gateway both answer through :func:`answer_inbound`,
and only differ in how they say the outcome (TwiML, or a SIP status).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from kallglot.core.clock import utcnow
from kallglot.core.errors import NotFoundError, ServiceUnavailableError
from kallglot.db.engine import transaction
from kallglot.realtime import service
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.schemas import CreateSession, Routing, SessionMode
from kallglot.telephony.calls import service as calls


class Refusal(StrEnum):
    BUSY = "busy"  # this node translates as many calls as it can
    UNKNOWN_NUMBER = "unknown_number"
    NO_AGENT = "no_agent"  # nobody to take it: the queue's overflow message is said instead


@dataclass(frozen=True)
class Answered:
    session_id: str
    token: str


@dataclass(frozen=True)
class Refused:
    reason: Refusal
    message: str | None = None


def answer_inbound(
    hub: RealtimeHub,
    to_number: str,
    from_number: str,
    token_ttl: timedelta,
    routing: Routing | None = None,
) -> Answered | Refused:
    """Record the call and create its session (with a stream token), or say why not.

    Blocking (database): run it in a worker thread.
    """
    try:
        hub.admission.check_room()
    except ServiceUnavailableError:
        return Refused(Refusal.BUSY)
    with transaction(hub.sessions) as db:
        try:
            routed = calls.inbound(db, to_number=to_number, from_number=from_number, now=utcnow())
        except NotFoundError:
            return Refused(Refusal.UNKNOWN_NUMBER)
        if routed.offer.agent is None:
            return Refused(Refusal.NO_AGENT, routed.offer.overflow_message)
        session, grant = service.create_session(
            db,
            routed.call.organization_id,
            CreateSession(
                mode=SessionMode(routed.call.mode),
                source_language=routed.call.caller_language,
                routing=routing,
            ),
            token_ttl,
        )
        routed.call.session_id = session.id
    return Answered(session.id, grant.token)
