"""The live calls of this node: attaching connections, ending calls, sweeping idle ones."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.core.threads import run_to_completion
from kallglot.crypto import EncryptedBlobStore
from kallglot.db.engine import transaction
from kallglot.realtime import service
from kallglot.realtime.admission import Admission
from kallglot.realtime.bus import EventBus
from kallglot.realtime.call_state import EndReason, close_call
from kallglot.realtime.engines import SpeechEngines
from kallglot.realtime.limits import (
    LimitAction,
    LimitVerdict,
    OpenPolicy,
    OpenProcessing,
    ProcessingPolicy,
    SessionPolicy,
)
from kallglot.realtime.models import CallSession, TranscriptTurn, UtteranceTiming
from kallglot.realtime.protocol import Party, event
from kallglot.realtime.recording import Recorder
from kallglot.realtime.recordings import store_recording
from kallglot.realtime.runtime import CallRuntime, FinalTurn, Timing
from kallglot.realtime.schemas import SessionMode
from kallglot.realtime.state import SessionStatus
from kallglot.realtime.transcripts import seal_turn_text
from kallglot.scale.outbox import DATABASE_DOWN, LocalQueue, WriteBehind

logger = logging.getLogger(__name__)


CALL_WRITES = ("turn", "timing", "languages", "touch", "status", "finish")


class DatabaseCallStore:
    """Writes a live call's turns and timings as they happen (a crash loses one utterance).

    Every write goes through :class:`WriteBehind`: while the database is unreachable
    it waits in the durable local queue, and the call carries on.
    """

    def __init__(self, call_id: str, organization_id: str, writes: WriteBehind):
        self._call_id = call_id
        self._organization_id = organization_id
        self._writes = writes
        self._active = False

    async def _write(self, kind: str, payload: dict[str, Any]) -> None:
        await asyncio.to_thread(self._writes.write, self._call_id, kind, payload)

    async def turn(self, turn: FinalTurn) -> None:
        await self._write(
            "turn",
            {
                "id": new_id("turn"),
                "session_id": self._call_id,
                "organization_id": self._organization_id,
                "speaker": turn.speaker.value,
                "language": turn.language,
                "text": turn.text,
                "translation_language": turn.translation_language,
                "translation": turn.translation,
                "start_ms": turn.start_ms,
                "end_ms": turn.end_ms,
                "confidence": turn.confidence,
            },
        )

    async def timing(self, timing: Timing) -> None:
        await self._write(
            "timing",
            {
                "id": new_id("tim"),
                "session_id": self._call_id,
                "organization_id": self._organization_id,
                "speaker": timing.speaker.value,
                "utterance_id": timing.utterance_id,
                "speech_ended_at": timing.speech_ended_at.isoformat(),
                "asr_final_ms": timing.asr_final_ms,
                "mt_done_ms": timing.mt_done_ms,
                "first_audio_ms": timing.first_audio_ms,
            },
        )

    async def languages(self, source: str | None, target: str | None) -> None:
        await self._write(
            "languages", {"session_id": self._call_id, "source": source, "target": target}
        )

    async def mark_active(self) -> None:
        """The first audio makes the session active (once)."""
        if not self._active:
            self._active = True
            await asyncio.to_thread(self.set_status, SessionStatus.ACTIVE, "audio_started")

    async def touch(self) -> None:
        await self._write("touch", {"session_id": self._call_id, "at": utcnow().isoformat()})

    def set_status(self, target: SessionStatus, reason: str) -> None:
        payload = {"session_id": self._call_id, "status": target.value, "reason": reason}
        self._writes.write(self._call_id, "status", payload)


def call_writes(
    sessions: sessionmaker[Session],
    queue: LocalQueue,
    processing: Callable[[], ProcessingPolicy],
) -> WriteBehind:
    """The write-behind of this node's call writes, applied through ``sessions``.

    Every applier is idempotent (rows carry their ids; states are compared before a
    transition), so an entry replayed after a crash lands once.
    """
    appliers: dict[str, Callable[[dict[str, Any]], None]] = {
        "turn": partial(_apply_turn, sessions, processing),
        "timing": partial(_apply_timing, sessions),
        "languages": partial(_apply_languages, sessions),
        "touch": partial(_apply_touch, sessions),
        "status": partial(_apply_status, sessions),
        "finish": partial(_apply_finish, sessions),
    }
    assert tuple(appliers) == CALL_WRITES
    return WriteBehind(queue, appliers)


def _apply_turn(
    sessions: sessionmaker[Session],
    processing: Callable[[], ProcessingPolicy],
    turn: dict[str, Any],
) -> None:
    with transaction(sessions) as db:
        if db.get(TranscriptTurn, turn["id"]) is not None:
            return
        if not processing().recording_allowed(db, turn["organization_id"], turn["session_id"]):
            return  # a restricted party: the live turn reached the client, nothing is kept
        # Numbered when it lands: writes of one call land in order, so turns do too.
        latest = db.scalar(
            select(func.max(TranscriptTurn.sequence)).where(
                TranscriptTurn.session_id == turn["session_id"]
            )
        )
        text, translation = seal_turn_text(
            db, turn["organization_id"], turn["id"], turn["text"], turn["translation"]
        )
        db.add(
            TranscriptTurn(
                id=turn["id"],
                session_id=turn["session_id"],
                organization_id=turn["organization_id"],
                sequence=(latest or 0) + 1,
                speaker=turn["speaker"],
                language=turn["language"],
                text_encrypted=text,
                translation_language=turn["translation_language"],
                translation_encrypted=translation,
                start_ms=turn["start_ms"],
                end_ms=turn["end_ms"],
                confidence=turn["confidence"],
            )
        )


def _apply_timing(sessions: sessionmaker[Session], timing: dict[str, Any]) -> None:
    with transaction(sessions) as db:
        if db.get(UtteranceTiming, timing["id"]) is not None:
            return
        db.add(
            UtteranceTiming(
                **{
                    **timing,
                    "speech_ended_at": datetime.fromisoformat(timing["speech_ended_at"]),
                }
            )
        )


def _apply_languages(sessions: sessionmaker[Session], change: dict[str, Any]) -> None:
    with transaction(sessions) as db:
        call = db.get(CallSession, change["session_id"])
        if call is not None:
            call.source_language, call.target_language = change["source"], change["target"]


def _apply_touch(sessions: sessionmaker[Session], touch: dict[str, Any]) -> None:
    at = datetime.fromisoformat(touch["at"])
    with transaction(sessions) as db:
        call = db.get(CallSession, touch["session_id"])
        if call is not None and (call.last_activity_at is None or call.last_activity_at < at):
            call.last_activity_at = at


def _apply_status(sessions: sessionmaker[Session], change: dict[str, Any]) -> None:
    with transaction(sessions) as db:
        call = db.get(CallSession, change["session_id"])
        if call is not None and call.status != change["status"]:
            service.transition(db, call, SessionStatus(change["status"]), change["reason"])


def _apply_finish(sessions: sessionmaker[Session], finish: dict[str, Any]) -> None:
    with transaction(sessions) as db:
        call = db.get(CallSession, finish["session_id"], with_for_update=True)
        if call is not None:
            close_call(db, call, finish["reason"], utcnow())


class RealtimeHub:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        engines: SpeechEngines,
        bus: EventBus,
        admission: Admission,
        idle_timeout: timedelta,
        blobs: EncryptedBlobStore,
        write_queue: LocalQueue,
        abandon_after: timedelta = timedelta(seconds=60),
    ) -> None:
        self.blobs = blobs
        # Asked when a write lands, so the policy privacy installs after construction counts.
        self.writes = call_writes(sessions, write_queue, lambda: self.processing)
        self.sessions = sessions
        self.engines = engines
        self.bus = bus
        self.admission = admission
        self.idle_timeout = idle_timeout
        self.abandon_after = abandon_after
        # Since when a live call has had no leg connected (the abandoned-call grace).
        self._unattended_since: dict[str, float] = {}
        # The one end of each call under way: a second end (a race) waits for it.
        self._endings: dict[str, asyncio.Task[None]] = {}
        self.runtimes: dict[str, CallRuntime] = {}
        self.stores: dict[str, DatabaseCallStore] = {}
        self.policy: SessionPolicy = OpenPolicy()
        self.processing: ProcessingPolicy = OpenProcessing()
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
            store = DatabaseCallStore(call.id, call.organization_id, self.writes)
            runtime = CallRuntime(
                call.id,
                SessionMode(call.mode),
                call.source_language,
                call.target_language,
                self.engines,
                self.bus,
                store,
                Recorder() if await self._recording_allowed(call) else None,
                hinted=frozenset({Party.CALLER}) if call.source_language_is_hint else frozenset(),
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
            return self.processing.recording_allowed(db, organization_id, call_id)

    async def end(self, call_id: str, reason: str) -> None:
        """End the call everywhere, once: the live runtime (if here), every leg, the stored
        session, its call record and agent, the capacity slot.

        Two ends that race (the caller hangs up as the agent does) end it once: the first
        reason stands and the second waits for the first to finish.
        """
        ending = self._endings.get(call_id)
        if ending is None:
            # A task of its own: the end completes even if the one who asked goes away.
            ending = asyncio.create_task(self._end_once(call_id, reason), name=f"end-{call_id}")
            self._endings[call_id] = ending
            ending.add_done_callback(lambda _: self._endings.pop(call_id, None))
        await asyncio.shield(ending)

    async def _end_once(self, call_id: str, reason: str) -> None:
        runtime = self.runtimes.pop(call_id, None)
        self.stores.pop(call_id, None)
        self._warned.discard(call_id)
        self._unattended_since.pop(call_id, None)
        if runtime is not None:
            try:
                await runtime.end(reason)
            finally:
                self.admission.release(call_id)
        recorder = runtime.recorder if runtime is not None else None
        await run_to_completion(self._finish, call_id, reason, recorder)

    def _finish(self, call_id: str, reason: str, recorder: Recorder | None) -> None:
        if recorder is not None and recorder.seconds > 0:
            try:
                self._store_recording(call_id, recorder)
            except DATABASE_DOWN:
                # The audio is in memory only; the call record and transcript still land.
                logger.warning("database unavailable at call end; recording not stored")
        self.writes.write(call_id, "finish", {"session_id": call_id, "reason": reason})
        self.writes.forget(call_id)

    def _store_recording(self, call_id: str, recorder: Recorder) -> None:
        with transaction(self.sessions) as db:
            call = db.get(CallSession, call_id)
            # Checked again at the end: a restriction or a caller's number may have arrived
            # during the call.
            if call is not None and self.processing.recording_allowed(
                db, call.organization_id, call.id
            ):
                store_recording(db, self.blobs, call, recorder)

    async def sweep_idle(self) -> int:
        """End sessions idle past the timeout, live here or only stored, and live ones no
        leg has been connected to for the abandoned-call grace."""
        ended = await self._sweep_abandoned()
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

    async def _sweep_abandoned(self) -> int:
        now = time.monotonic()
        abandoned = []
        for call_id, runtime in list(self.runtimes.items()):
            if runtime.connections or runtime.ended.is_set():
                self._unattended_since.pop(call_id, None)
                continue
            since = self._unattended_since.setdefault(call_id, now)
            if now - since >= self.abandon_after.total_seconds():
                abandoned.append(call_id)
        for call_id in abandoned:
            await self.end(call_id, EndReason.ABANDONED)
        return len(abandoned)

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
        # Often enough that an abandoned call ends within a quarter of its grace after it.
        interval_s = min(interval_s, self.abandon_after.total_seconds() / 4)
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.sweep_idle()
            except Exception:
                logger.exception("idle session sweep failed")

    async def shutdown(self) -> None:
        for call_id in list(self.runtimes):
            await self.end(call_id, "server_shutdown")
