"""Sessions API: create, read, list, end; transcript and latency of a session."""

from __future__ import annotations

import asyncio
from typing import Annotated

import anyio.from_thread
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from kallglot.accounts.dependencies import require
from kallglot.accounts.permissions import Permission
from kallglot.accounts.principal import Principal
from kallglot.api import credits
from kallglot.api.ratelimit import CREDITS_STATE_KEY
from kallglot.http.deps import AppSettings, DbSession
from kallglot.http.pagination import Page, Pagination
from kallglot.realtime import service
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.models import CallSession, TranscriptTurn
from kallglot.realtime.protocol import public_party
from kallglot.realtime.schemas import (
    CreateSession,
    EndedSessionOut,
    EndSession,
    LatencyOut,
    SessionMode,
    SessionOut,
    StreamInfo,
    TranscriptMetadata,
    TranscriptOut,
    TranslationOut,
    TurnOut,
)
from kallglot.realtime.state import TERMINAL, SessionStatus
from kallglot.realtime.transcripts import (
    MEDIA_TYPES,
    TranscriptFormat,
    open_turn_text,
    render,
)

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])

Reader = Annotated[Principal, require(Permission.SESSIONS_READ)]
Writer = Annotated[Principal, require(Permission.SESSIONS_WRITE)]


def _hub(request: Request) -> RealtimeHub:
    hub: RealtimeHub = request.app.state.realtime
    return hub


@router.post("", status_code=201, summary="Create a session")
def create_session(
    body: CreateSession, principal: Writer, db: DbSession, settings: AppSettings, request: Request
) -> SessionOut:
    hub = _hub(request)
    hub.admission.check_room()
    hub.policy.admit(db, principal.organization_id)
    if body.mode is not SessionMode.TRANSCRIPTION and body.source_language and body.target_language:
        hub.engines.check_pair(body.source_language, body.target_language)
        hub.engines.check_pair(body.target_language, body.source_language)
    # One API credit per session created; spent in this transaction, so a failure spends none.
    spent = credits.consume(db, settings, principal.organization_id)
    nodes = getattr(request.app.state, "node_registry", None)  # set in multi-node mode
    base_url = anyio.from_thread.run(nodes.place_url) if nodes else settings.public_base_url
    call, grant = service.create_session(
        db, principal.organization_id, body, settings.stream_token_ttl
    )
    setattr(request.state, CREDITS_STATE_KEY, spent)
    stream = StreamInfo(
        url=service.stream_url(base_url, call.id),
        token=grant.token,
        expires_at=grant.expires_at,
    )
    return service.to_out(call, stream)


@router.get("", summary="List sessions, newest first")
def list_sessions(
    principal: Reader,
    db: DbSession,
    page: Pagination,
    status: Annotated[SessionStatus | None, Query()] = None,
    mode: Annotated[SessionMode | None, Query()] = None,
) -> Page[SessionOut]:
    return service.list_sessions(
        db, principal.organization_id, page, status, mode.value if mode else None
    )


@router.get("/{session_id}", summary="Retrieve a session")
def get_session(session_id: str, principal: Reader, db: DbSession) -> SessionOut:
    return service.to_out(service.get_session(db, principal.organization_id, session_id))


@router.post("/{session_id}/end", summary="End a session (idempotent)")
async def end_session(
    session_id: str, principal: Writer, request: Request, body: EndSession | None = None
) -> EndedSessionOut:
    hub = _hub(request)
    reason = (body.reason if body else None) or "completed"
    call = await asyncio.to_thread(_load, hub, principal.organization_id, session_id)
    if SessionStatus(call.status) not in TERMINAL:
        await hub.end(session_id, reason)
        call = await asyncio.to_thread(_load, hub, principal.organization_id, session_id)
    return service.to_ended_out(call)


def _load(hub: RealtimeHub, organization_id: str, session_id: str) -> CallSession:
    with hub.sessions() as db:
        return service.get_session(db, organization_id, session_id)


@router.get(
    "/{session_id}/transcript",
    summary="The session's transcript, turn by turn (JSON, text, SRT or WebVTT)",
    response_model=TranscriptOut,
    responses={
        200: {
            "content": {
                media_type.split(";")[0]: {"schema": {"type": "string"}}
                for media_type in MEDIA_TYPES.values()
            }
        }
    },
)
def get_transcript(
    session_id: str,
    principal: Reader,
    db: DbSession,
    format: Annotated[TranscriptFormat, Query(description="json, text, srt or vtt")] = (
        TranscriptFormat.JSON
    ),
    include_translations: Annotated[bool, Query()] = True,
) -> Response:
    call = service.get_session(db, principal.organization_id, session_id)
    turns = db.scalars(
        select(TranscriptTurn)
        .where(TranscriptTurn.session_id == call.id)
        .order_by(TranscriptTurn.sequence)
    ).all()
    out: list[TurnOut] = []
    for turn in turns:
        text, translation = open_turn_text(db, turn)
        if not include_translations:
            translation = None
        out.append(
            TurnOut(
                sequence=turn.sequence,
                speaker=public_party(turn.speaker),
                language=turn.language,
                text=text,
                translation=(
                    TranslationOut(language=turn.translation_language, text=translation)
                    if translation is not None and turn.translation_language
                    else None
                ),
                start_ms=turn.start_ms,
                end_ms=turn.end_ms,
                confidence=turn.confidence,
                timestamp=turn.created_at,
            )
        )
    if format is not TranscriptFormat.JSON:
        return Response(render(out, format), media_type=MEDIA_TYPES[format])
    transcript = TranscriptOut(
        id=f"trn_{call.id}",
        session_id=call.id,
        status="completed" if SessionStatus(call.status) in TERMINAL else "in_progress",
        turns=out,
        metadata=TranscriptMetadata(
            total_turns=len(out),
            duration_seconds=round(service.duration_seconds(call), 3),
            languages_detected=sorted({turn.language for turn in turns if turn.language}),
        ),
    )
    return Response(transcript.model_dump_json(), media_type="application/json")


@router.get("/{session_id}/latency", summary="Latency percentiles of the session's utterances")
def get_latency(session_id: str, principal: Reader, db: DbSession, request: Request) -> LatencyOut:
    call = service.get_session(db, principal.organization_id, session_id)
    processing = _hub(request).processing
    return service.latency_summary(db, processing, principal.organization_id, call.id)


organization_router = APIRouter(prefix="/v1", tags=["sessions"])


@organization_router.get("/latency", summary="Latency percentiles over the organization's calls")
def get_organization_latency(principal: Reader, db: DbSession, request: Request) -> LatencyOut:
    return service.latency_summary(db, _hub(request).processing, principal.organization_id)
