"""Recordings: stored encrypted when a call with recording enabled ends; read back on request.

As the public API serves them: MP3, one recording per channel (``agent``, ``customer`` and
``mixed``), each with the ``expires_at`` its retention class gives it; the audio is
converted on download when ``format`` or ``sample_rate`` asks for it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated, Literal

import soundfile  # type: ignore[import-untyped]
from fastapi import APIRouter, Query, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from kallglot.accounts.dependencies import require
from kallglot.accounts.permissions import Permission
from kallglot.accounts.principal import Principal
from kallglot.core.errors import NotFoundError, ValidationFailedError
from kallglot.core.ids import new_id
from kallglot.core.schemas import ResponseModel
from kallglot.crypto import EncryptedBlobStore
from kallglot.http.deps import AppSettings, DbSession
from kallglot.http.pagination import Page, Pagination, paginate
from kallglot.privacy.retention import PurgeBatch, purger, retention_policy
from kallglot.realtime import service, webhooks
from kallglot.realtime.models import CallSession, Recording
from kallglot.realtime.recording import RECORDING_RATE, Recorder
from kallglot.speech.audio import SAMPLE_RATE, decode_bytes, resample
from kallglot.speech.encode import MEDIA_TYPES, AudioFileFormat, encode

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["recordings"])
Reader = Annotated[Principal, require(Permission.RECORDINGS_READ)]

STORED_FORMAT: AudioFileFormat = "mp3"
BIT_DEPTH = 16
DOWNLOAD_RATES = (8000, 16000, 22050, 44100, 48000)


class RecordingOut(ResponseModel):
    id: str
    object: Literal["recording"] = "recording"
    session_id: str
    channel: Literal["agent", "customer", "mixed", "dual"]
    status: str
    duration: float
    format: Literal["mp3", "wav"]
    size: int
    sample_rate: int
    bit_depth: int = BIT_DEPTH
    channels: int
    download_url: str
    created_at: datetime
    expires_at: datetime | None


def _retention_days(db: Session, organization_id: str) -> int | None:
    for effective in retention_policy(db, organization_id):
        if effective.retention_class.name == "recordings":
            return effective.days
    return None


def to_out(recording: Recording, retention_days: int | None) -> RecordingOut:
    return RecordingOut(
        id=recording.id,
        session_id=recording.session_id,
        channel=recording.channel,
        status=recording.status,
        duration=round(recording.duration_seconds, 3),
        format=recording.format,
        size=recording.size_bytes,
        sample_rate=recording.sample_rate,
        channels=recording.channels,
        download_url=f"/v1/recordings/{recording.id}/audio",
        created_at=recording.created_at,
        expires_at=(
            recording.created_at + timedelta(days=retention_days)
            if retention_days is not None
            else None
        ),
    )


def store_recording(
    db: Session, blobs: EncryptedBlobStore, call: CallSession, recorder: Recorder
) -> list[Recording]:
    """The call's agent, customer and mixed recordings (MP3); ``recording.failed`` if the
    audio cannot be encoded."""
    try:
        encoded = {
            channel: encode(samples, RECORDING_RATE, STORED_FORMAT)
            for channel, samples in recorder.tracks().items()
        }
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
        logger.warning("recording not encoded: %s", type(exc).__name__)
        webhooks.emit(
            db,
            call.organization_id,
            "recording.failed",
            {"object": "recording", "session_id": call.id, "status": "failed"},
        )
        return []
    stored = []
    for channel, audio in encoded.items():
        recording = Recording(
            id=new_id("rec"),
            session_id=call.id,
            organization_id=call.organization_id,
            blob_id=blobs.put(db, call.organization_id, audio),
            duration_seconds=recorder.seconds,
            sample_rate=RECORDING_RATE,
            channels=1,
            size_bytes=len(audio),
            channel=channel,
            format=STORED_FORMAT,
        )
        db.add(recording)
        stored.append(recording)
    db.flush()
    for recording in stored:
        webhooks.emit(
            db,
            call.organization_id,
            "recording.ready",
            {
                "id": recording.id,
                "object": "recording",
                "session_id": call.id,
                "channel": recording.channel,
            },
        )
    return stored


def _owned(db: Session, principal: Principal, recording_id: str) -> Recording:
    recording = db.get(Recording, recording_id)
    if recording is None or recording.organization_id != principal.organization_id:
        raise NotFoundError(f"No recording '{recording_id}'.", code="recording_not_found")
    return recording


@router.get("/sessions/{session_id}/recordings", summary="A session's recordings")
def list_recordings(
    session_id: str,
    principal: Reader,
    db: DbSession,
    page: Pagination,
    channel: Annotated[Literal["agent", "customer", "mixed"] | None, Query()] = None,
) -> Page[RecordingOut]:
    call = service.get_session(db, principal.organization_id, session_id)
    statement = select(Recording).where(Recording.session_id == call.id)
    if channel is not None:
        statement = statement.where(Recording.channel == channel)
    days = _retention_days(db, principal.organization_id)
    return paginate(db, statement, Recording.id, page, lambda rec: to_out(rec, days))


@router.get("/recordings/{recording_id}", summary="Retrieve a recording")
def get_recording(recording_id: str, principal: Reader, db: DbSession) -> RecordingOut:
    recording = _owned(db, principal, recording_id)
    return to_out(recording, _retention_days(db, principal.organization_id))


@router.get(
    "/recordings/{recording_id}/audio",
    summary="Download a recording (MP3 as stored; WAV or Ogg Vorbis, other rates on request)",
    response_class=Response,
    responses={200: {"content": {media: {} for media in MEDIA_TYPES.values()}}},
)
def get_recording_audio(
    recording_id: str,
    principal: Reader,
    db: DbSession,
    settings: AppSettings,
    format: Annotated[AudioFileFormat | None, Query(description="mp3, wav or ogg")] = None,
    sample_rate: Annotated[
        int | None, Query(description=f"Hz: one of {', '.join(map(str, DOWNLOAD_RATES))}")
    ] = None,
) -> Response:
    if sample_rate is not None and sample_rate not in DOWNLOAD_RATES:
        raise ValidationFailedError(
            f"sample_rate must be one of {', '.join(map(str, DOWNLOAD_RATES))}.",
            param="sample_rate",
        )
    recording = _owned(db, principal, recording_id)
    audio = EncryptedBlobStore.from_settings(settings).get(db, recording.blob_id)
    wanted: AudioFileFormat = format or ("wav" if recording.format == "wav" else "mp3")
    if wanted != recording.format or (sample_rate or recording.sample_rate) != (
        recording.sample_rate
    ):
        rate = sample_rate or recording.sample_rate
        # decode_bytes gives 16 kHz mono (a stereo "dual" WAV is folded to mono).
        audio = encode(resample(decode_bytes(audio), SAMPLE_RATE, rate), rate, wanted)
    return Response(
        audio,
        media_type=MEDIA_TYPES[wanted],
        headers={
            "Content-Disposition": (
                f'attachment; filename="recording-{recording.session_id}.{wanted}"'
            )
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
