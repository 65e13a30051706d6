"""One call, one state: the transitions of a call and the one transaction that closes it.

A call is a session (its audio and transcript), the call record a carrier call leaves
(outcome, agent), the agent's presence and a capacity slot on the node that carries it.
Whichever leg ends it (a carrier ``stop``, a SIP BYE or CANCEL or RTP timeout, a WebRTC
close, the agent's hang-up, the API, an idle or abandoned timeout, node loss), the end is
one :data:`CallEvent.END` (or :data:`CallEvent.FAIL`) applied to the table below. Only the
first end changes the state; every later one, racing or not, meets ``ending``/``ended`` and
is ignored. :func:`close_call` persists the end of all the parts in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from kallglot.realtime import service
from kallglot.realtime.models import CallSession
from kallglot.realtime.state import TERMINAL, SessionStatus
from kallglot.telephony.calls import service as calls
from kallglot.telephony.calls.models import CallRecord

CallState = SessionStatus


class CallEvent(StrEnum):
    LEG_CONNECTED = "leg_connected"  # a transport or WebSocket joined the call
    AUDIO_STARTED = "audio_started"  # the first audio of any party
    END = "end"  # any leg, the API or a timeout ended the call
    FAIL = "fail"  # the call was lost (its node died, the carrier refused it)
    FINISHED = "finished"  # every part of the call is closed


class EndReason(StrEnum):
    """Why a call ended; stored on the session and the call record (free text for
    reasons a policy adds, such as a billing limit's code)."""

    COMPLETED = "completed"  # the caller's leg hung up (carrier stop, BYE)
    EXPLICIT_END = "explicit_end"  # a party sent ``session.end`` on the WebSocket
    AGENT_HANGUP = "agent_hangup"  # the agent hung up in the console or the API
    CANCELED = "canceled"  # the caller gave up before the call was answered
    TIMEOUT = "timeout"  # no media, or idle past the idle timeout
    ABANDONED = "abandoned"  # no leg connected for the grace period
    TRANSPORT_ERROR = "transport_error"  # a leg spoke something that is not its protocol
    NO_ACK = "no_ack"
    SESSION_TIMER_EXPIRED = "session_timer_expired"
    SERVER_SHUTDOWN = "server_shutdown"
    NODE_LOST = "node_lost"  # the node carrying the call died
    CARRIER_ERROR = "carrier_error"  # the carrier refused to connect the call


# Ends that lose the call rather than finish it: the session is ``failed``.
FAILURES = frozenset({EndReason.NODE_LOST, EndReason.CARRIER_ERROR})

_LIVE = (CallState.CREATED, CallState.CONNECTING, CallState.ACTIVE)

# (state, event) → the next state; a pair not listed leaves the state as it is (ignored):
# an end after the end, a connection to a call that is going away.
TRANSITIONS: dict[tuple[CallState, CallEvent], CallState] = {
    (CallState.CREATED, CallEvent.LEG_CONNECTED): CallState.CONNECTING,
    (CallState.CREATED, CallEvent.AUDIO_STARTED): CallState.ACTIVE,
    (CallState.CONNECTING, CallEvent.AUDIO_STARTED): CallState.ACTIVE,
    **{(state, CallEvent.END): CallState.ENDING for state in _LIVE},
    **{(state, CallEvent.FAIL): CallState.FAILED for state in (*_LIVE, CallState.ENDING)},
    (CallState.ENDING, CallEvent.FINISHED): CallState.ENDED,
}


@dataclass(frozen=True)
class Step:
    before: CallState
    after: CallState

    @property
    def changed(self) -> bool:
        return self.before is not self.after

    @property
    def starts_end(self) -> bool:
        """This step is the one that ends the call: it, and only it, closes every part."""
        return self.changed and self.after in (CallState.ENDING, CallState.FAILED)


def step(state: CallState, event: CallEvent) -> Step:
    """Where ``event`` takes a call in ``state`` (unchanged when the table has no entry)."""
    return Step(state, TRANSITIONS.get((state, event), state))


def end_event(reason: str) -> CallEvent:
    return CallEvent.FAIL if reason in FAILURES else CallEvent.END


def close_call(db: Session, session: CallSession, reason: str, now: datetime) -> bool:
    """End the session, its call record and the agent's part in one transaction.

    Idempotent: a call already ended keeps its first reason; a call record still open
    beside an ended session (written by an earlier version) is closed. Returns whether
    the session changed.
    """
    changed = False
    current = SessionStatus(session.status)
    moved = step(current, end_event(reason))
    if moved.after is CallState.FAILED and moved.changed:
        service.transition(db, session, SessionStatus.FAILED, reason)
        changed = True
    elif moved.changed or current is CallState.ENDING:
        service.finish(db, session, reason)
        changed = True
    record = db.scalar(
        select(CallRecord).where(CallRecord.session_id == session.id).with_for_update()
    )
    if record is not None and record.ended_at is None:
        calls.end(db, record, now, reason=session.end_reason or reason)
    return changed


def is_over(status: str) -> bool:
    return SessionStatus(status) in TERMINAL
