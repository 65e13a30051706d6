"""A live call: its connections, one translation pipeline per direction, playback, barge-in.

Per direction: frames → recognizer (VAD, partials, finals) → translation →
synthesis → the listener's :class:`Player`. Recognition and the
translate/speak stage run as separate tasks so a long synthesis never delays
hearing the next utterance. Every event is published on the bus and sent to
the call's connections.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import numpy as np
import soxr  # type: ignore[import-untyped]

from kallglot.core.errors import KallglotError
from kallglot.core.ids import new_id
from kallglot.realtime.bus import EventBus, session_topic
from kallglot.realtime.engines import (
    FinalText,
    PartialText,
    RecognitionEvent,
    SpeechEngines,
    SpeechStarted,
    StreamingRecognizer,
)
from kallglot.realtime.player import OutputChunk, Player
from kallglot.realtime.protocol import AudioEncoding, DecodedAudio, Party, ProtocolError, event
from kallglot.realtime.recording import Recorder
from kallglot.realtime.schemas import SessionMode
from kallglot.speech import g711
from kallglot.speech.audio import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, AudioFrame

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
AudioSink = Callable[[OutputChunk], Awaitable[None]]
DTMF_DIGITS = frozenset("0123456789*#ABCD")
# The relay of the caller's own voice has no utterance; its chunks share this id.
ORIGINAL_AUDIO = "original"


@dataclass(frozen=True)
class FinalTurn:
    """A final utterance, handed to the store (encrypted) by the call's owner."""

    utterance_id: str
    speaker: Party
    text: str
    language: str | None
    translation: str | None
    translation_language: str | None
    start_ms: int
    end_ms: int
    confidence: float | None


@dataclass(frozen=True)
class Timing:
    utterance_id: str
    speaker: Party
    speech_ended_at: datetime
    asr_final_ms: int
    mt_done_ms: int | None
    first_audio_ms: int | None


class CallStore(Protocol):
    """Where a live call writes what must survive it (implemented over the database)."""

    async def turn(self, turn: FinalTurn) -> None: ...

    async def timing(self, timing: Timing) -> None: ...

    async def languages(self, source: str | None, target: str | None) -> None: ...


@dataclass
class Connection:
    """One WebSocket (or transport) attached to the call."""

    send: Send
    party: Party | None = None
    output_encoding: AudioEncoding = AudioEncoding.MULAW
    id: str = field(default_factory=lambda: new_id("conn"))
    downsamplers: dict[Party, soxr.ResampleStream] = field(default_factory=dict)
    # A transport leg takes its audio as typed 16 kHz PCM chunks and converts it at its own
    # edge; only a WebSocket client gets ``audio.output`` JSON (base64 built once, for it).
    audio: AudioSink | None = None

    def encode_output(self, listener: Party, pcm16k: bytes) -> tuple[bytes, int]:
        """The connection's wire format: mu-law 8 kHz (telephony) or 16 kHz PCM."""
        if self.output_encoding is AudioEncoding.PCM_S16LE:
            return pcm16k, SAMPLE_RATE
        if listener not in self.downsamplers:
            self.downsamplers[listener] = soxr.ResampleStream(SAMPLE_RATE, 8000, 1, dtype="int16")
        narrow = self.downsamplers[listener].resample_chunk(np.frombuffer(pcm16k, dtype="<i2"))
        return g711.mulaw_encode(np.asarray(narrow, dtype=np.int16)), 8000

    def hears(self, listener: Party) -> bool:
        return self.party is None or self.party is listener


# A party may send up to this much audio ahead of real time (network bursts, a buffered
# start, tests at 4x); beyond it, input is dropped until real time catches up.
MAX_LEAD_MS = 20_000
# Recognition runs at most this far ahead of real time: audio that arrived early waits,
# so no call takes more recogniser time than a real-time speaker, however fast it sends.
PROCESS_LEAD_MS = 2_000
# No audio from a party for this long counts as a gap (a stalled client); well above the
# hiccups of a loaded sender, since silence added mid-sentence splits the utterance ...
INPUT_GAP_SECONDS = 3.0
# ... and is filled with this much silence: past the VAD's end of speech (400 ms).
GAP_FILL_MS = 600
# When the translation falls behind (the speaker talks on, or the listener still hears an
# earlier translation), it is spoken this much faster, as interpreters do: otherwise in
# continuous speech every sentence waits for the one before to finish playing and the
# delay only grows. Piper read back by Whisper: WER 0.02 at 1.0, 0.04 at 1.35.
CATCH_UP_SPEED = 1.3
# At the end of a call, the utterance being recognised gets this long to become text.
END_GRACE_SECONDS = 3.0


class RealTimePace:
    """A token bucket of audio milliseconds refilled at real time: bursts of up to
    ``capacity_ms`` pass, a sustained flood is held to one second per second."""

    def __init__(self, capacity_ms: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock  # a test moves its own clock instead of waiting on the wall's
        self._capacity_ms = float(capacity_ms)
        self._allowance_ms = float(capacity_ms)
        self._refilled_at = clock()
        self._reported_at = -math.inf

    def _refill(self) -> None:
        now = self._clock()
        self._allowance_ms = min(
            self._capacity_ms, self._allowance_ms + (now - self._refilled_at) * 1000
        )
        self._refilled_at = now

    def take(self, duration_ms: float) -> bool:
        self._refill()
        if duration_ms > self._allowance_ms:
            return False
        self._allowance_ms -= duration_ms
        return True

    async def wait(self, duration_ms: float) -> None:
        """Take ``duration_ms``, sleeping until real time has made room for it."""
        self._refill()
        shortfall_ms = duration_ms - self._allowance_ms
        if shortfall_ms > 0:
            # Real time refills the bucket at exactly this rate: after the sleep it has room.
            await asyncio.sleep(shortfall_ms / 1000)
            self._refill()
        self._allowance_ms -= duration_ms

    def should_report(self) -> bool:
        """At most one error a second, so a flood is not answered with a flood."""
        now = self._clock()
        if now - self._reported_at < 1.0:
            return False
        self._reported_at = now
        return True


def _duration_ms(audio: DecodedAudio) -> float:
    if audio.encoding is AudioEncoding.MULAW:
        return len(audio.data) / 8  # 8 kHz, one byte a sample
    return len(audio.data) / (SAMPLE_RATE * 2 / 1000)


class _ArrivalClock:
    """Maps a party's stream time (ms of audio received) to the wall clock it arrived at."""

    def __init__(self) -> None:
        self._marks: deque[tuple[int, float]] = deque(maxlen=3000)

    def mark(self, stream_ms: int) -> None:
        self._marks.append((stream_ms, time.monotonic()))

    def at(self, stream_ms: int) -> float:
        for mark_ms, arrived in self._marks:
            if mark_ms >= stream_ms:
                return arrived
        return time.monotonic()


@dataclass
class _Utterance:
    id: str
    final: FinalText
    speech_ended: float
    asr_done: float
    generation: int


class Direction:
    """One party's speech, recognised and (per mode) translated and spoken to the other."""

    def __init__(self, call: CallRuntime, speaker: Party, language: str | None) -> None:
        self.call = call
        self.speaker = speaker
        self.recognizer: StreamingRecognizer = call.engines.recognizer(
            language, hint=speaker in call.hinted
        )
        self.clock = _ArrivalClock()
        self.stream_ms = 0
        self.last_sequence = -1
        self._pending = bytearray()
        # Stateful, so 20 ms telephone frames join without clicks at their edges.
        self._upsampler = soxr.ResampleStream(8000, SAMPLE_RATE, 1, dtype="int16")
        self._frames: asyncio.Queue[AudioFrame | None] = asyncio.Queue(maxsize=1500)
        self._utterances: asyncio.Queue[_Utterance | None] = asyncio.Queue()
        self._pace = RealTimePace(MAX_LEAD_MS)
        self._recognition_pace = RealTimePace(PROCESS_LEAD_MS)
        self._last_audio_at: float | None = None
        self._gap_filled = True
        self._speaking = False
        self._tasks = [
            asyncio.create_task(self._recognise(), name=f"recognise-{speaker}"),
            asyncio.create_task(self._speak(), name=f"speak-{speaker}"),
        ]
        self._gap_filler = asyncio.create_task(self._fill_gaps(), name=f"fill-gaps-{speaker}")

    @property
    def listener(self) -> Party:
        return self.speaker.other

    def accept(self, audio: DecodedAudio) -> None:
        """Take one input message; frames are queued, never processed on the receive path."""
        if audio.sequence <= self.last_sequence:
            kind = "duplicate_frame" if audio.sequence == self.last_sequence else "out_of_order"
            raise ProtocolError(
                kind, f"Audio sequence {audio.sequence} after {self.last_sequence}; dropped."
            )
        self.last_sequence = audio.sequence
        if not self._pace.take(_duration_ms(audio)):
            # Dropped whole: a client far ahead of real time would otherwise hold the
            # shared recognisers for more than its share, slowing every other call.
            if self._pace.should_report():
                raise ProtocolError(
                    "audio_too_fast",
                    "Audio arrives faster than real time; audio beyond the allowance is dropped.",
                )
            return
        self._last_audio_at, self._gap_filled = time.monotonic(), False
        if audio.encoding is AudioEncoding.MULAW:
            pcm = self._upsampler.resample_chunk(g711.mulaw_decode(audio.data))
            self._pending.extend(np.asarray(pcm, dtype="<i2").tobytes())
        else:
            self._pending.extend(audio.data)
        while len(self._pending) >= FRAME_BYTES:
            pcm_frame = bytes(self._pending[:FRAME_BYTES])
            del self._pending[:FRAME_BYTES]
            self._queue_frame(pcm_frame)

    def _queue_frame(self, pcm: bytes) -> None:
        frame = AudioFrame(pcm, self.stream_ms)
        if self.call.recorder is not None:
            self.call.recorder.add(Recorder.ORIGINAL, self.speaker, frame.pcm)
        self.call.relay_original(self.speaker, frame.pcm)
        self.stream_ms = frame.end_ms
        self.clock.mark(frame.end_ms)
        if self._frames.full():
            raise ProtocolError(
                "audio_backpressure", "Audio arrives faster than it can be processed."
            )
        self._frames.put_nowait(frame)

    async def _fill_gaps(self) -> None:
        """When a party's audio stops (a stalled or vanished client), add the silence that
        did not arrive, so the utterance in progress ends and is translated now instead
        of waiting for audio that may never come."""
        while True:
            await asyncio.sleep(INPUT_GAP_SECONDS / 4)
            last = self._last_audio_at
            if self._gap_filled or last is None or time.monotonic() - last < INPUT_GAP_SECONDS:
                continue
            self._gap_filled = True
            silence = bytes(FRAME_BYTES)
            for _ in range(GAP_FILL_MS // FRAME_MS):
                if self._frames.full():
                    break
                self._queue_frame(silence)

    async def finish(self, within_s: float) -> int:
        """Stop: audio queued and not yet recognised is dropped (a flooding client's backlog
        is not worked through), what the recogniser already holds is finished and its text
        kept, for at most ``within_s``; then everything left is cancelled. Returns how many
        queued frames were dropped."""
        dropped = 0
        while not self._frames.empty():
            if self._frames.get_nowait() is not None:
                dropped += 1
        self._gap_filler.cancel()
        self._frames.put_nowait(None)
        _, unfinished = await asyncio.wait(self._tasks, timeout=within_s)
        for task in (*unfinished, self._gap_filler):
            task.cancel()
        await asyncio.gather(*self._tasks, self._gap_filler, return_exceptions=True)
        return dropped

    async def _recognise(self) -> None:
        try:
            while (frame := await self._frames.get()) is not None:
                await self._recognition_pace.wait(FRAME_MS)
                async with self._fault_costs_one_utterance("recognised"):
                    await self._handle(await self.recognizer.feed(frame))
            async with self._fault_costs_one_utterance("recognised"):
                await self._handle(await self.recognizer.flush())
        finally:
            await self._utterances.put(None)

    @contextlib.asynccontextmanager
    async def _fault_costs_one_utterance(self, what: str) -> AsyncIterator[None]:
        """A failing engine or a bug costs the utterance in hand, reported as a
        ``session.error``; the call and this party's later utterances go on."""
        try:
            yield
        except KallglotError as exc:
            await self.call.broadcast(event("session.error", self.call.id, **_error(exc)))
        except Exception:
            logger.exception("an utterance of %s could not be %s", self.call.id, what)
            await self.call.broadcast(
                event(
                    "session.error",
                    self.call.id,
                    code="internal_error",
                    message=f"This utterance could not be {what}; the call goes on.",
                )
            )

    async def _handle(self, events: list[RecognitionEvent]) -> None:
        for recognised in events:
            if isinstance(recognised, SpeechStarted):
                self._speaking = True
                await self.call.on_speech_started(self.speaker)
            elif isinstance(recognised, PartialText):
                await self.call.broadcast(
                    event(
                        "transcript.partial",
                        self.call.id,
                        speaker=self.speaker.value,
                        language=recognised.language,
                        text=recognised.text,
                    )
                )
            elif isinstance(recognised, FinalText):
                await self._finalise(recognised)

    async def _finalise(self, final: FinalText) -> None:
        self._speaking = False
        await self.call.broadcast(
            event("speech.stopped", self.call.id, speaker=self.speaker.value, end_ms=final.end_ms)
        )
        if not final.text.strip():
            return
        if final.language and self.recognizer.language is None:
            await self.call.language_detected(self.speaker, final.language)
        elif final.language and self.speaker in self.call.hinted:
            await self.call.language_heard(self.speaker, final.language)
        await self._utterances.put(
            _Utterance(
                id=new_id("utt"),
                final=final,
                speech_ended=self.clock.at(final.end_ms),
                asr_done=time.monotonic(),
                generation=self.call.player(self.listener).generation,
            )
        )

    async def _speak(self) -> None:
        while (utterance := await self._utterances.get()) is not None:
            async with self._fault_costs_one_utterance("translated"):
                await self._translate_and_speak(utterance)

    async def _translate_and_speak(self, utterance: _Utterance) -> None:
        call, final = self.call, utterance.final
        source = final.language or call.language_of(self.speaker)
        target = call.language_of(self.listener)
        translation: str | None = None
        mt_done: float | None = None
        if call.translates and source and target and source != target:
            translation = await call.engines.translate(final.text, source, target)
            mt_done = time.monotonic()
        elif call.translates and source and source == target:
            translation, mt_done = final.text, time.monotonic()
        await call.broadcast(
            event(
                "transcript.final",
                call.id,
                utterance_id=utterance.id,
                speaker=self.speaker.value,
                language=source,
                text=final.text,
                translation={"language": target, "text": translation} if translation else None,
                start_ms=final.start_ms,
                end_ms=final.end_ms,
                confidence=final.confidence,
            )
        )
        await call.store.turn(
            FinalTurn(
                utterance.id,
                self.speaker,
                final.text,
                source,
                translation,
                target if translation else None,
                final.start_ms,
                final.end_ms,
                final.confidence,
            )
        )
        first_audio: float | None = None
        # After the end nobody hears it: the text is kept, nothing is synthesised.
        if translation and target and call.speaks_to(self.listener) and not call.ended.is_set():
            player = call.player(self.listener)
            behind = self._speaking or not self._utterances.empty() or player.is_playing()
            speed = CATCH_UP_SPEED if behind else 1.0
            async for pcm in call.engines.synthesize(translation, target, speed=speed):
                if player.generation != utterance.generation:
                    break
                player.enqueue(utterance.id, pcm, utterance.generation)
            first_audio = await player.wait_first_sent(utterance.id, timeout_s=10.0)
        await self._report_latency(utterance, mt_done, first_audio)

    async def _report_latency(
        self, utterance: _Utterance, mt_done: float | None, first_audio: float | None
    ) -> None:
        def after_end(moment: float | None) -> int | None:
            if moment is None:
                return None
            return max(0, round((moment - utterance.speech_ended) * 1000))

        asr_ms = after_end(utterance.asr_done) or 0
        timing = Timing(
            utterance.id,
            self.speaker,
            datetime.now(UTC) - timedelta(seconds=time.monotonic() - utterance.speech_ended),
            asr_ms,
            after_end(mt_done),
            after_end(first_audio),
        )
        await self.call.store.timing(timing)
        await self.call.broadcast(
            event(
                "latency",
                self.call.id,
                utterance_id=utterance.id,
                speaker=self.speaker.value,
                asr_final_ms=timing.asr_final_ms,
                mt_done_ms=timing.mt_done_ms,
                first_audio_ms=timing.first_audio_ms,
            )
        )


def _error(exc: KallglotError) -> dict[str, str]:
    return {"code": exc.code, "message": exc.message}


class CallRuntime:
    """Everything live about one session on this node."""

    def __init__(
        self,
        call_id: str,
        mode: SessionMode,
        source_language: str | None,
        target_language: str | None,
        engines: SpeechEngines,
        bus: EventBus,
        store: CallStore,
        recorder: Recorder | None = None,
        hinted: frozenset[Party] = frozenset(),
    ) -> None:
        self.id = call_id
        # Parties whose language is a hint until their first utterance is heard.
        self.hinted = set(hinted)
        self.recorder = recorder
        self.mode = mode
        self.engines = engines
        self.bus = bus
        self.store = store
        self.connections: dict[str, Connection] = {}
        self._languages: dict[Party, str | None] = {
            Party.CALLER: source_language,
            Party.AGENT: target_language,
        }
        self._players = {party: Player(self._sink_for(party)) for party in Party}
        # Assistive mode: the agent hears the caller's own voice, relayed as it arrives
        # (the translation reaches the agent as text). Barge-in never clears it.
        assistive = mode is SessionMode.ASSISTIVE
        self._relay = Player(self._relay_sink, lead_s=0.0) if assistive else None
        for player in self._all_players():
            player.start()
        self._directions: dict[Party, Direction] = {}
        self._last_activity = time.monotonic()
        self.ended = asyncio.Event()
        # Set once ``session.ended`` has gone to every connection: a leg that closes on it
        # closes after its client was told why.
        self.finished = asyncio.Event()
        self.frames_dropped_at_end = 0

    # Modes -------------------------------------------------------------------------------
    @property
    def translates(self) -> bool:
        return self.mode is not SessionMode.TRANSCRIPTION

    def speaks_to(self, listener: Party) -> bool:
        """Bidirectional: both hear translations. Assistive: only the caller does."""
        if self.mode is SessionMode.BIDIRECTIONAL:
            return True
        return self.mode is SessionMode.ASSISTIVE and listener is Party.CALLER

    def language_of(self, party: Party) -> str | None:
        return self._languages[party]

    async def language_detected(self, party: Party, language: str) -> None:
        if self._languages[party] is None:
            self._languages[party] = language
            await self.store.languages(self._languages[Party.CALLER], self._languages[Party.AGENT])
            await self.broadcast(
                event("language.detected", self.id, speaker=party.value, language=language)
            )

    async def language_heard(self, party: Party, language: str) -> None:
        """The first utterance of a party whose language was a hint: the language it was
        recognised in decides, and both parties are told when it changed."""
        self.hinted.discard(party)
        if language == self._languages[party]:
            return
        other = self._languages[party.other]
        if self.translates and other and other != language:
            try:
                self.engines.check_pair(language, other)
                self.engines.check_pair(other, language)
            except KallglotError:
                return  # a language we cannot interpret: the hint stands
        self._languages[party] = language
        caller, agent = self._languages[Party.CALLER], self._languages[Party.AGENT]
        await self.store.languages(caller, agent)
        await self.broadcast(
            event("language.detected", self.id, speaker=party.value, language=language)
        )
        await self.broadcast(
            event("session.languages", self.id, source_language=caller, target_language=agent)
        )

    async def update_languages(self, source: str | None, target: str | None) -> None:
        for party, language in ((Party.CALLER, source), (Party.AGENT, target)):
            if language is not None:
                self._languages[party] = language
                if party in self._directions:
                    self._directions[party].recognizer.language = language
        caller, agent = self._languages[Party.CALLER], self._languages[Party.AGENT]
        if self.translates and caller and agent and caller != agent:
            self.engines.check_pair(caller, agent)
            self.engines.check_pair(agent, caller)
        await self.store.languages(caller, agent)
        await self.broadcast(
            event("session.updated", self.id, source_language=caller, target_language=agent)
        )

    # Audio in ----------------------------------------------------------------------------
    def accept_audio(self, audio: DecodedAudio) -> None:
        if self.ended.is_set():
            return  # the call is ending: nothing new is started
        direction = self._directions.get(audio.speaker)
        if direction is None:
            direction = Direction(self, audio.speaker, self._languages[audio.speaker])
            self._directions[audio.speaker] = direction
        self._last_activity = time.monotonic()
        direction.accept(audio)

    async def dtmf(self, speaker: Party, digit: str, duration_ms: int | None = None) -> None:
        """A key pressed on a party's phone (RFC 4733 event, SIP INFO or a carrier's message)."""
        if len(digit) != 1 or digit.upper() not in DTMF_DIGITS:
            raise ProtocolError("invalid_message", "A DTMF digit is one of 0-9, *, #, A-D.")
        self._last_activity = time.monotonic()
        await self.broadcast(
            event(
                "dtmf", self.id, speaker=speaker.value, digit=digit.upper(), duration_ms=duration_ms
            )
        )

    @property
    def idle_seconds(self) -> float:
        return time.monotonic() - self._last_activity

    async def on_speech_started(self, speaker: Party) -> None:
        await self.broadcast(event("speech.started", self.id, speaker=speaker.value))
        player = self._players[speaker]
        if player.is_playing():
            # Barge-in: the speaker talks over the translation playing to them.
            player.clear()
            await self.broadcast(event("audio.clear", self.id, listener=speaker.value))

    # Audio out and events ----------------------------------------------------------------
    def player(self, listener: Party) -> Player:
        return self._players[listener]

    def _all_players(self) -> list[Player]:
        return [*self._players.values(), *([self._relay] if self._relay else [])]

    def relay_original(self, speaker: Party, pcm16k: bytes) -> None:
        """In assistive mode, pass the caller's own voice on to the agent."""
        if self._relay is not None and speaker is Party.CALLER:
            self._relay.enqueue(ORIGINAL_AUDIO, pcm16k, self._relay.generation)

    async def _relay_sink(self, chunk: OutputChunk) -> None:
        for connection in list(self.connections.values()):
            if connection.hears(Party.AGENT):
                await _deliver(self.id, Party.AGENT, chunk, connection, "original")

    def _sink_for(self, listener: Party) -> Callable[[OutputChunk], Awaitable[None]]:
        async def sink(chunk: OutputChunk) -> None:
            if self.recorder is not None:
                self.recorder.add(Recorder.TRANSLATED, listener, chunk.pcm16k)
            for connection in list(self.connections.values()):
                if connection.hears(listener):
                    await _deliver(self.id, listener, chunk, connection, "translation")

        return sink

    async def broadcast(self, message: dict[str, Any]) -> None:
        await self.bus.publish(session_topic(self.id), message)
        for connection in list(self.connections.values()):
            try:
                await connection.send(message)
            except Exception:  # a closing socket must not stop the call for the others
                logger.info("dropping a connection that failed to receive")
                self.connections.pop(connection.id, None)

    # Life cycle --------------------------------------------------------------------------
    async def end(self, reason: str) -> None:
        """Stop everything (queued work is cancelled) and tell every connection."""
        if self.ended.is_set():
            return
        self.ended.set()
        # An end does not wait behind the backlog (a flooding client may have queued many
        # seconds of audio): only the utterance in hand is finished, as text, briefly.
        dropped = await asyncio.gather(
            *(d.finish(END_GRACE_SECONDS) for d in self._directions.values())
        )
        self.frames_dropped_at_end = sum(dropped)
        for player in self._all_players():
            await player.stop()
        try:
            await self.broadcast(event("session.ended", self.id, reason=reason))
        finally:
            self.finished.set()


async def _deliver(
    call_id: str,
    listener: Party,
    chunk: OutputChunk,
    connection: Connection,
    content: Literal["translation", "original"],
) -> None:
    if connection.audio is not None:
        await connection.audio(chunk)
    else:
        await connection.send(_audio_event(call_id, listener, chunk, connection, content))


def _audio_event(
    call_id: str,
    listener: Party,
    chunk: OutputChunk,
    connection: Connection,
    content: Literal["translation", "original"],
) -> dict[str, Any]:
    payload, rate = connection.encode_output(listener, chunk.pcm16k)
    return event(
        "audio.output",
        call_id,
        listener=listener.value,
        speaker=listener.other.value,
        content=content,
        utterance_id=chunk.utterance_id if content == "translation" else None,
        sequence=chunk.sequence,
        audio={
            "encoding": connection.output_encoding.value,
            "sample_rate_hz": rate,
            "payload": base64.b64encode(payload).decode(),
        },
    )
