"""Recordings: stored encrypted when a call with recording enabled ends; read back on request."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from kallglot.accounts.dependencies import require
from kallglot.accounts.permissions import Permission
from kallglot.accounts.principal import Principal
from kallglot.api.deps import AppSettings, DbSession
from kallglot.api.pagination import Page, Pagination, paginate
from kallglot.core.errors import NotFoundError
from kallglot.core.ids import new_id
from kallglot.core.schemas import ResponseModel
from kallglot.crypto import EncryptedBlobStore
from kallglot.privacy.retention import PurgeBatch, purger
from kallglot.realtime import service, webhooks
from kallglot.realtime.models import CallSession, Recording
from kallglot.realtime.recording import RECORDING_RATE, Recorder

router = APIRouter(prefix="/v1", tags=["recordings"])
Reader = Annotated[Principal, require(Permission.RECORDINGS_READ)]


class RecordingOut(ResponseModel):
    id: str
    object: Literal["recording"] = "recording"
    session_id: str
    channel: Literal["dual"] = "dual"
    status: str
    duration: float
    format: Literal["wav"] = "wav"
    size: int
    sample_rate: int
    channels: int
    download_url: str
    created_at: datetime


def to_out(recording: Recording) -> RecordingOut:
    return RecordingOut(
        id=recording.id,
        session_id=recording.session_id,
        status=recording.status,
        duration=round(recording.duration_seconds, 3),
        size=recording.size_bytes,
        sample_rate=recording.sample_rate,
        channels=recording.channels,
        download_url=f"/v1/recordings/{recording.id}/audio",
        created_at=recording.created_at,
    )


def store_recording(
    db: Session, blobs: EncryptedBlobStore, call: CallSession, recorder: Recorder
) -> Recording:
    audio = recorder.wav()
    recording = Recording(
        id=new_id("rec"),
        session_id=call.id,
        organization_id=call.organization_id,
        blob_id=blobs.put(db, call.organization_id, audio),
        duration_seconds=recorder.seconds,
        sample_rate=RECORDING_RATE,
        channels=2,
        size_bytes=len(audio),
    )
    db.add(recording)
    db.flush()
    webhooks.emit(
        db,
        call.organization_id,
        "recording.ready",
        {"id": recording.id, "object": "recording", "session_id": call.id},
    )
    return recording


def _owned(db: Session, principal: Principal, recording_id: str) -> Recording:
    recording = db.get(Recording, recording_id)
    if recording is None or recording.organization_id != principal.organization_id:
        raise NotFoundError(f"No recording '{recording_id}'.", code="recording_not_found")
    return recording


@router.get("/sessions/{session_id}/recordings", summary="A session's recordings")
def list_recordings(
    session_id: str, principal: Reader, db: DbSession, page: Pagination
) -> Page[RecordingOut]:
    call = service.get_session(db, principal.organization_id, session_id)
    statement = select(Recording).where(Recording.session_id == call.id)
    return paginate(db, statement, Recording.id, page, to_out)


@router.get("/recordings/{recording_id}", summary="Retrieve a recording")
def get_recording(recording_id: str, principal: Reader, db: DbSession) -> RecordingOut:
    return to_out(_owned(db, principal, recording_id))


@router.get(
    "/recordings/{recording_id}/audio",
    summary="Download a recording (WAV, channel 1 original, channel 2 translated)",
    response_class=Response,
)
def get_recording_audio(
    recording_id: str, principal: Reader, db: DbSession, settings: AppSettings
) -> Response:
    recording = _owned(db, principal, recording_id)
    audio = EncryptedBlobStore.from_settings(settings).get(db, recording.blob_id)
    return Response(
        audio,
        media_type="audio/wav",
        headers={
            "Content-Disposition": f'attachment; filename="recording-{recording.session_id}.wav"'
        },
    )


@purger("recordings")
def purge_recordings(batch: PurgeBatch) -> int:
    from kallglot.core.settings import get_settings

    ids = batch.expired_ids(Recording, Recording.created_at, held=(Recording.session_id, "call"))
    blobs = EncryptedBlobStore.from_settings(get_settings())
    for recording in batch.session.scalars(select(Recording).where(Recording.id.in_(ids))):
        blobs.delete(recording.blob_id)
        batch.session.delete(recording)
    return len(ids)


@purger("transcripts")
def purge_transcripts(batch: PurgeBatch) -> int:
    from kallglot.realtime.models import TranscriptTurn, UtteranceTiming

    turns = batch.delete_expired(
        TranscriptTurn, TranscriptTurn.created_at, held=(TranscriptTurn.session_id, "call")
    )
    timings = batch.delete_expired(
        UtteranceTiming,
        UtteranceTiming.speech_ended_at,
        held=(UtteranceTiming.session_id, "call"),
    )
    return turns + timings
