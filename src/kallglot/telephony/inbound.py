"""An inbound carrier call: routed to an agent and given a session to stream into.

Every carrier (Twilio's TwiML, Telnyx's call control, an INVITE to the SIP gateway) asks
the same question and only words the answer differently: refuse (busy or unknown number),
play the overflow message, or stream the call into a new session with its stream token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kallglot.core.clock import utcnow
from kallglot.core.errors import NotFoundError, ServiceUnavailableError
from kallglot.db.engine import transaction
from kallglot.realtime import service
from kallglot.realtime.call_state import EndReason, close_call
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.models import CallSession
from kallglot.realtime.schemas import CreateSession, Routing, SessionMode
from kallglot.telephony.calls import service as calls
from kallglot.telephony.calls.models import CallRecord
from kallglot.telephony.routing import service as routing


@dataclass(frozen=True)
class InboundDecision:
    action: Literal["busy", "unknown_number", "overflow", "stream", "duplicate"]
    overflow_message: str | None = None
    session_id: str = ""
    stream_token: str = ""
    call_id: str = ""


def route_inbound(
    hub: RealtimeHub,
    stream_token_ttl: timedelta,
    to_number: str,
    from_number: str,
    carrier_call_id: str | None = None,
    session_routing: Routing | None = None,
) -> InboundDecision:
    """Blocking (database): run it in a worker thread.

    With the carrier's id of the call, a webhook delivered again (a retry) is recognised:
    ``duplicate``, and nothing is routed twice. ``session_routing`` is stored on the new session
    (the SIP gateway marks its sessions ``type="sip"``).
    """
    try:
        hub.admission.check_room()
    except ServiceUnavailableError:
        return InboundDecision("busy")
    try:
        return _route(
            hub, stream_token_ttl, to_number, from_number, carrier_call_id, session_routing
        )
    except IntegrityError:  # the same call routed at this very moment by another delivery
        return InboundDecision("duplicate")


def _route(
    hub: RealtimeHub,
    stream_token_ttl: timedelta,
    to_number: str,
    from_number: str,
    carrier_call_id: str | None,
    session_routing: Routing | None,
) -> InboundDecision:
    with transaction(hub.sessions) as db:
        if carrier_call_id is not None and db.scalar(
            select(CallRecord.id).where(CallRecord.carrier_call_id == carrier_call_id)
        ):
            return InboundDecision("duplicate")
        try:
            routed = calls.inbound(db, to_number=to_number, from_number=from_number, now=utcnow())
        except NotFoundError:
            return InboundDecision("unknown_number")
        routed.call.carrier_call_id = carrier_call_id
        if routed.offer.agent is None:
            return InboundDecision("overflow", overflow_message=routed.offer.overflow_message)
        caller_language = routed.call.caller_language
        spoken = routing.languages_of(db, routed.offer.agent.id)
        # Translate into a language of the agent the call rings at (the console can still
        # override it mid-call); an agent who speaks the caller's language needs none.
        agent_language = spoken[0] if spoken and caller_language not in spoken else None
        session, grant = service.create_session(
            db,
            routed.call.organization_id,
            CreateSession(
                mode=SessionMode(routed.call.mode),
                source_language=caller_language,
                target_language=agent_language,
                routing=session_routing,
            ),
            stream_token_ttl,
        )
        routed.call.session_id = session.id
    return InboundDecision(
        "stream", session_id=session.id, stream_token=grant.token, call_id=routed.call.id
    )


def abandon_inbound(hub: RealtimeHub, decision: InboundDecision) -> None:
    """The carrier never connected the call we routed (its answer command failed): the call
    record ends as abandoned (freeing the agent it rang at) and its session as failed, so
    nothing is left waiting. Blocking (database): run it in a worker thread."""
    with transaction(hub.sessions) as db:
        session = db.get(CallSession, decision.session_id) if decision.session_id else None
        if session is not None:
            close_call(db, session, EndReason.CARRIER_ERROR, utcnow())
        record = db.get(CallRecord, decision.call_id) if decision.call_id else None
        if record is not None:
            calls.end(db, record, utcnow(), reason=EndReason.CARRIER_ERROR)
            record.carrier_call_id = None  # the carrier's retry of the webhook routes it anew


def stream_url(public_base_url: str, path: str) -> str:
    """The WebSocket URL a carrier connects to (``http`` becomes ``ws``)."""
    return public_base_url.rstrip("/").replace("http", "ws", 1) + path
