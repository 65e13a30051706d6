"""Sessions: create, read, list, end, authenticate streams, record transitions and transcripts."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import quantiles

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from kallglot.core.clock import utcnow
from kallglot.core.errors import AuthenticationError, NotFoundError
from kallglot.core.ids import new_id, new_token
from kallglot.db.pagination import Page, PageParams, paginate
from kallglot.realtime import webhooks
from kallglot.realtime.limits import ProcessingPolicy
from kallglot.realtime.models import (
    CallSession,
    SessionTransition,
    StreamToken,
    TranscriptTurn,
    UtteranceTiming,
)
from kallglot.realtime.schemas import (
    CreateSession,
    EndedSessionOut,
    LatencyOut,
    LatencyPercentiles,
    RecordingInfo,
    SessionOut,
    StreamInfo,
)
from kallglot.realtime.state import TERMINAL, SessionStatus, check_transition

STREAM_TOKEN_PREFIX = "kst"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True)
class StreamGrant:
    token: str
    expires_at: datetime


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_stream_token(
    db: Session, call: CallSession, ttl: timedelta, party: str | None = None
) -> StreamGrant:
    """A new stream token for one leg of the session; every token issued before stays
    valid (each leg has its own). Stored hashed."""
    grant = StreamGrant(new_token(STREAM_TOKEN_PREFIX), utcnow() + ttl)
    db.add(
        StreamToken(
            id=new_id("stk"),
            session_id=call.id,
            token_hash=_token_hash(grant.token),
            party=party,
            expires_at=grant.expires_at,
        )
    )
    return grant


def create_session(
    db: Session,
    organization_id: str,
    request: CreateSession,
    stream_token_ttl: timedelta,
) -> tuple[CallSession, StreamGrant]:
    now = utcnow()
    routing = request.routing.model_dump(exclude_none=True) if request.routing else None
    call = CallSession(
        id=new_id("sess"),
        organization_id=organization_id,
        mode=request.mode.value,
        status=SessionStatus.CREATED.value,
        source_language=request.source_language,
        target_language=request.target_language,
        provider="sip" if routing and routing.get("type") == "sip" else None,
        routing=routing,
        recording_enabled=request.recording.enabled,
        session_metadata=request.metadata,
        created_at=now,
        last_activity_at=now,
    )
    db.add(call)
    grant = issue_stream_token(db, call, stream_token_ttl)
    db.add(
        SessionTransition(
            id=new_id("str"), session_id=call.id, to_status=call.status, reason="created", at=now
        )
    )
    db.flush()
    webhooks.emit(db, organization_id, "session.created", session_summary(call))
    return call, grant


def get_session(db: Session, organization_id: str, session_id: str) -> CallSession:
    """The session if it belongs to the organization; another's is simply not found."""
    call = db.get(CallSession, session_id)
    if call is None or call.organization_id != organization_id:
        raise NotFoundError(f"No session '{session_id}'.", code="session_not_found")
    return call


def list_sessions(
    db: Session,
    organization_id: str,
    params: PageParams,
    status: SessionStatus | None = None,
    mode: str | None = None,
) -> Page[SessionOut]:
    statement: Select[CallSession] = select(CallSession).where(
        CallSession.organization_id == organization_id
    )
    if status is not None:
        statement = statement.where(CallSession.status == status.value)
    if mode is not None:
        statement = statement.where(CallSession.mode == mode)
    return paginate(db, statement, CallSession.id, params, lambda call: to_out(call))


def transition(
    db: Session, call: CallSession, target: SessionStatus, reason: str | None = None
) -> None:
    """Move the session to ``target``, recording the transition and announcing it."""
    current = SessionStatus(call.status)
    check_transition(current, target)
    now = utcnow()
    call.status = target.value
    call.last_activity_at = now
    if target is SessionStatus.ACTIVE:
        call.started_at = now
        webhooks.emit(db, call.organization_id, "session.started", session_summary(call))
    if target in TERMINAL:
        call.ended_at = now
        call.end_reason = reason
        webhooks.emit(db, call.organization_id, "session.ended", session_summary(call))
    db.add(
        SessionTransition(
            id=new_id("str"),
            session_id=call.id,
            from_status=current.value,
            to_status=target.value,
            reason=reason,
            at=now,
        )
    )
    db.flush()


def finish(db: Session, call: CallSession, reason: str) -> None:
    """End a session from wherever it is (idempotent): through ``ending`` to ``ended``."""
    if SessionStatus(call.status) in TERMINAL:
        return
    if call.status != SessionStatus.ENDING.value:
        transition(db, call, SessionStatus.ENDING, reason)
    transition(db, call, SessionStatus.ENDED, reason)
    if db.scalar(select(TranscriptTurn.id).where(TranscriptTurn.session_id == call.id).limit(1)):
        webhooks.emit(
            db,
            call.organization_id,
            "transcript.completed",
            {"session_id": call.id, "transcript_id": f"trn_{call.id}"},
        )


def authenticate_stream(db: Session, session_id: str, token: str) -> CallSession:
    """The session a stream token opens; the token is checked only when connecting."""
    call = db.get(CallSession, session_id)
    digest = _token_hash(token)
    expires_at = None
    if call is not None:
        issued = db.scalar(
            select(StreamToken).where(
                StreamToken.session_id == call.id, StreamToken.token_hash == digest
            )
        )
        if issued is not None:
            expires_at = issued.expires_at
        elif call.stream_token_hash and hmac.compare_digest(call.stream_token_hash, digest):
            expires_at = call.stream_token_expires_at  # issued by an earlier version
        else:
            call = None
    if call is None:
        raise AuthenticationError("The stream token is not valid.", code="invalid_token")
    if expires_at is None or expires_at < utcnow():
        raise AuthenticationError("The stream token has expired.", code="expired_token")
    if SessionStatus(call.status) in TERMINAL:
        raise AuthenticationError("The session has ended.", code="session_ended")
    return call


def idle_sessions(db: Session, idle_for: timedelta) -> list[CallSession]:
    cutoff = utcnow() - idle_for
    return list(
        db.scalars(
            select(CallSession).where(
                CallSession.status.not_in([status.value for status in TERMINAL]),
                CallSession.last_activity_at < cutoff,
            )
        )
    )


def duration_seconds(call: CallSession) -> float:
    if call.started_at is None:
        return 0.0
    return max(0.0, ((call.ended_at or utcnow()) - call.started_at).total_seconds())


def session_summary(call: CallSession) -> dict[str, object]:
    return {
        "id": call.id,
        "object": "session",
        "status": call.status,
        "mode": call.mode,
        "duration": round(duration_seconds(call), 3),
        "metadata": call.session_metadata,
    }


def to_out(call: CallSession, stream: StreamInfo | None = None) -> SessionOut:
    routing = call.routing or {}
    return SessionOut(
        id=call.id,
        status=call.status,
        mode=call.mode,
        provider=call.provider,
        phone_number=routing.get("phone_number"),
        source_language=call.source_language,
        target_language=call.target_language,
        stream=stream,
        recording=RecordingInfo(enabled=call.recording_enabled),
        metadata=call.session_metadata,
        created_at=call.created_at,
        started_at=call.started_at,
        ended_at=call.ended_at,
        end_reason=call.end_reason,
    )


def to_ended_out(call: CallSession) -> EndedSessionOut:
    return EndedSessionOut(
        id=call.id,
        status=call.status,
        duration_seconds=round(duration_seconds(call), 3),
        ended_at=call.ended_at,
        end_reason=call.end_reason,
    )


def stream_url(public_base_url: str, session_id: str) -> str:
    base = public_base_url.replace("https://", "wss://").replace("http://", "ws://")
    return f"{base}/v1/sessions/{session_id}/connect"


def record_timing(db: Session, timing: UtteranceTiming) -> None:
    db.add(timing)


def _percentiles(values: list[float]) -> LatencyPercentiles:
    if not values:
        return LatencyPercentiles(utterances=0, p50_ms=None, p95_ms=None, max_ms=None)
    if len(values) == 1:
        return LatencyPercentiles(
            utterances=1, p50_ms=values[0], p95_ms=values[0], max_ms=values[0]
        )
    cuts = quantiles(values, n=100, method="inclusive")
    return LatencyPercentiles(
        utterances=len(values), p50_ms=cuts[49], p95_ms=cuts[94], max_ms=max(values)
    )


def latency_summary(
    db: Session,
    processing: ProcessingPolicy,
    organization_id: str,
    session_id: str | None = None,
) -> LatencyOut:
    """One session's latency percentiles, or the organization's over its sessions; the
    organization-wide figure is an analytic, so sessions of limited subjects are left out."""
    statement = select(UtteranceTiming).where(UtteranceTiming.organization_id == organization_id)
    if session_id is not None:
        statement = statement.where(UtteranceTiming.session_id == session_id)
    else:
        excluded = processing.analytics_excluded(db, organization_id)
        statement = statement.where(UtteranceTiming.session_id.not_in(excluded))
    timings = db.scalars(statement).all()
    return LatencyOut(
        end_of_speech_to_first_audio=_percentiles(
            [float(t.first_audio_ms) for t in timings if t.first_audio_ms is not None]
        ),
        end_of_speech_to_asr_final=_percentiles([float(t.asr_final_ms) for t in timings]),
    )
