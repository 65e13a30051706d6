"""The live calls of this node: attaching connections, ending calls, sweeping idle ones."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.core.threads import run_to_completion
from kallglot.crypto import EncryptedBlobStore
from kallglot.db.engine import transaction
from kallglot.privacy.processing import session_processing_allowed
from kallglot.privacy.requests import Purpose
from kallglot.realtime import service
from kallglot.realtime.admission import Admission
from kallglot.realtime.bus import EventBus
from kallglot.realtime.engines import SpeechEngines
from kallglot.realtime.limits import LimitAction, LimitVerdict, OpenPolicy, SessionPolicy
from kallglot.realtime.models import CallSession, TranscriptTurn, UtteranceTiming
from kallglot.realtime.protocol import event
from kallglot.realtime.recording import Recorder
from kallglot.realtime.recordings import store_recording
from kallglot.realtime.runtime import CallRuntime, FinalTurn, Timing
from kallglot.realtime.schemas import SessionMode
from kallglot.realtime.state import SessionStatus
from kallglot.realtime.transcripts import seal_turn_text

logger = logging.getLogger(__name__)


class DatabaseCallStore:
    """Writes a live call's turns and timings as they happen (a crash loses one utterance)."""

    def __init__(self, sessions: sessionmaker[Session], call_id: str, organization_id: str):
        self._sessions = sessions
        self._call_id = call_id
        self._organization_id = organization_id
        self._sequence: int | None = None
        self._active = False

    async def turn(self, turn: FinalTurn) -> None:
        await asyncio.to_thread(self._write_turn, turn)

    def _write_turn(self, turn: FinalTurn) -> None:
        with transaction(self._sessions) as db:
            if not session_processing_allowed(
                db, self._organization_id, self._call_id, Purpose.RECORDING
            ):
                # A restricted party: the live turn reached the client, nothing is kept.
                return
            if self._sequence is None:
                latest = db.scalar(
                    select(func.max(TranscriptTurn.sequence)).where(
                        TranscriptTurn.session_id == self._call_id
                    )
                )
                self._sequence = latest or 0
            self._sequence += 1
            row_id = new_id("turn")
            text, translation = seal_turn_text(
                db, self._organization_id, row_id, turn.text, turn.translation
            )
            db.add(
                TranscriptTurn(
                    id=row_id,
                    session_id=self._call_id,
                    organization_id=self._organization_id,
                    sequence=self._sequence,
                    speaker=turn.speaker.value,
                    language=turn.language,
                    text_encrypted=text,
                    translation_language=turn.translation_language,
                    translation_encrypted=translation,
                    start_ms=turn.start_ms,
                    end_ms=turn.end_ms,
                    confidence=turn.confidence,
                )
            )

    async def timing(self, timing: Timing) -> None:
        await asyncio.to_thread(self._write_timing, timing)

    def _write_timing(self, timing: Timing) -> None:
        with transaction(self._sessions) as db:
            db.add(
                UtteranceTiming(
                    id=new_id("tim"),
                    session_id=self._call_id,
                    organization_id=self._organization_id,
                    speaker=timing.speaker.value,
                    utterance_id=timing.utterance_id,
                    speech_ended_at=timing.speech_ended_at,
                    asr_final_ms=timing.asr_final_ms,
                    mt_done_ms=timing.mt_done_ms,
                    first_audio_ms=timing.first_audio_ms,
                )
            )

    async def languages(self, source: str | None, target: str | None) -> None:
        await asyncio.to_thread(self._write_languages, source, target)

    def _write_languages(self, source: str | None, target: str | None) -> None:
        with transaction(self._sessions) as db:
            call = db.get(CallSession, self._call_id)
            if call is not None:
                call.source_language, call.target_language = source, target

    async def mark_active(self) -> None:
        """The first audio makes the session active (once)."""
        if not self._active:
            self._active = True
            await asyncio.to_thread(self.set_status, SessionStatus.ACTIVE, "audio_started")

    async def touch(self) -> None:
        await asyncio.to_thread(self._touch)

    def _touch(self) -> None:
        with transaction(self._sessions) as db:
            call = db.get(CallSession, self._call_id)
            if call is not None:
                call.last_activity_at = utcnow()

    def set_status(self, target: SessionStatus, reason: str) -> None:
        with transaction(self._sessions) as db:
            call = db.get(CallSession, self._call_id)
            if call is not None and call.status != target.value:
                service.transition(db, call, target, reason)


class RealtimeHub:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        engines: SpeechEngines,
        bus: EventBus,
        admission: Admission,
        idle_timeout: timedelta,
        blobs: EncryptedBlobStore,
    ) -> None:
        self.blobs = blobs
        self.sessions = sessions
        self.engines = engines
        self.bus = bus
        self.admission = admission
        self.idle_timeout = idle_timeout
        self.runtimes: dict[str, CallRuntime] = {}
        self.stores: dict[str, DatabaseCallStore] = {}
        self.policy: SessionPolicy = OpenPolicy()
        self._warned: set[str] = set()
        self._lock = asyncio.Lock()

    async def authenticate(self, session_id: str, token: str) -> CallSession:
        """The session a stream token opens (see :func:`service.authenticate_stream`)."""
        return await asyncio.to_thread(self._authenticate, session_id, token)

    def _authenticate(self, session_id: str, token: str) -> CallSession:
        with self.sessions() as db:
            return service.authenticate_stream(db, session_id, token)

    async def attach(self, call: CallSession) -> tuple[CallRuntime, DatabaseCallStore]:
        """The call's runtime, started on first connection (admission-controlled)."""
        async with self._lock:
            runtime = self.runtimes.get(call.id)
            if runtime is not None and not runtime.ended.is_set():
                return runtime, self.stores[call.id]
            self.admission.admit(call.id)
            store = DatabaseCallStore(self.sessions, call.id, call.organization_id)
            runtime = CallRuntime(
                call.id,
                SessionMode(call.mode),
                call.source_language,
                call.target_language,
                self.engines,
                self.bus,
                store,
                Recorder() if await self._recording_allowed(call) else None,
            )
            self.runtimes[call.id] = runtime
            self.stores[call.id] = store
            if call.status == SessionStatus.CREATED.value:
                await asyncio.to_thread(store.set_status, SessionStatus.CONNECTING, "connected")
            return runtime, store

    async def _recording_allowed(self, call: CallSession) -> bool:
        """Recording asked for, and no party restricted processing (no audio kept at all)."""
        if not call.recording_enabled:
            return False
        return await asyncio.to_thread(self._processing_allowed, call.id, call.organization_id)

    def _processing_allowed(self, call_id: str, organization_id: str) -> bool:
        with self.sessions() as db:
            return session_processing_allowed(db, organization_id, call_id, Purpose.RECORDING)

    async def end(self, call_id: str, reason: str) -> None:
        """End the call everywhere: the live runtime (if here) and the stored session."""
        runtime = self.runtimes.pop(call_id, None)
        self.stores.pop(call_id, None)
        self._warned.discard(call_id)
        if runtime is not None:
            await runtime.end(reason)
            self.admission.release(call_id)
        recorder = runtime.recorder if runtime is not None else None
        await run_to_completion(self._finish, call_id, reason, recorder)

    def _finish(self, call_id: str, reason: str, recorder: Recorder | None) -> None:
        with transaction(self.sessions) as db:
            call = db.get(CallSession, call_id)
            if call is None:
                return
            # Checked again at the end: a restriction or a caller's number may have arrived
            # during the call.
            if (
                recorder is not None
                and recorder.seconds > 0
                and session_processing_allowed(db, call.organization_id, call.id, Purpose.RECORDING)
            ):
                store_recording(db, self.blobs, call, recorder)
            service.finish(db, call, reason)

    async def sweep_idle(self) -> int:
        """End sessions idle past the timeout, live here or only stored."""
        ended = 0
        for call_id, runtime in list(self.runtimes.items()):
            if runtime.idle_seconds > self.idle_timeout.total_seconds():
                await self.end(call_id, "timeout")
                ended += 1
        stale = await run_to_completion(self._stale_ids)
        for call_id in stale:
            if call_id not in self.runtimes:
                await self.end(call_id, "timeout")
                ended += 1
        return ended

    def _stale_ids(self) -> list[str]:
        with self.sessions() as db:
            return [call.id for call in service.idle_sessions(db, self.idle_timeout)]

    async def enforce_limits(self) -> int:
        """Apply the policy to this node's live calls: warn once, then end; returns ended."""
        if not self.runtimes:
            return 0
        verdicts = await asyncio.to_thread(self._verdicts, list(self.runtimes))
        ended = 0
        for verdict in verdicts:
            runtime = self.runtimes.get(verdict.session_id)
            if runtime is None:
                continue
            if verdict.action is LimitAction.END:
                await self.end(verdict.session_id, verdict.code)
                ended += 1
            elif verdict.session_id not in self._warned:
                self._warned.add(verdict.session_id)
                await runtime.broadcast(
                    event(
                        "session.limit_warning",
                        verdict.session_id,
                        code=verdict.code,
                        seconds_left=verdict.seconds_left,
                    )
                )
        return ended

    def _verdicts(self, call_ids: list[str]) -> list[LimitVerdict]:
        with self.sessions() as db:
            live = db.scalars(select(CallSession).where(CallSession.id.in_(call_ids))).all()
            return self.policy.verdicts(db, live)

    async def run_limits(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.enforce_limits()
            except Exception:
                logger.exception("session limit check failed")

    async def run_sweeper(self, interval_s: float = 30.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.sweep_idle()
            except Exception:
                logger.exception("idle session sweep failed")

    async def shutdown(self) -> None:
        for call_id in list(self.runtimes):
            await self.end(call_id, "server_shutdown")
