"""A transport's attachment to a session: one party's audio in, that party's audio and
events out. Every transport (Twilio, WebRTC, SIP) goes through this, nothing more.
"""

from __future__ import annotations

import itertools

from kallglot.realtime.hub import DatabaseCallStore, RealtimeHub
from kallglot.realtime.models import CallSession
from kallglot.realtime.protocol import AudioEncoding, DecodedAudio, Party
from kallglot.realtime.runtime import AudioSink, CallRuntime, Connection, Send
from kallglot.speech.audio import SAMPLE_RATE, TELEPHONE_RATE

_SEQUENCE = itertools.count(1)


class Leg:
    def __init__(
        self,
        hub: RealtimeHub,
        runtime: CallRuntime,
        store: DatabaseCallStore,
        connection: Connection,
        speaker: Party,
    ) -> None:
        self.hub = hub
        self.runtime = runtime
        self.store = store
        self.connection = connection
        self.speaker = speaker

    @classmethod
    async def open(
        cls,
        hub: RealtimeHub,
        session_id: str,
        token: str,
        speaker: Party,
        send: Send,
        output: AudioEncoding,
        audio: AudioSink | None = None,
    ) -> Leg:
        """Check the stream token (as the session WebSocket does) and join the call.

        ``send`` receives the session's events. The translated speech meant for ``speaker``
        goes to ``audio`` as 16 kHz PCM chunks (the transport converts it at its edge), or,
        without it, to ``send`` as ``audio.output`` events in ``output``.
        Raises :class:`kallglot.core.errors.KallglotError` when the call cannot be joined.
        """
        call = await hub.authenticate(session_id, token)
        return await cls.join(hub, call, speaker, send, output, audio)

    @classmethod
    async def join(
        cls,
        hub: RealtimeHub,
        call: CallSession,
        speaker: Party,
        send: Send,
        output: AudioEncoding,
        audio: AudioSink | None = None,
    ) -> Leg:
        """Join ``call`` without a stream token: for a transport that authorised the party
        itself (the SIP gateway, for a session created for SIP). The session's own token
        stays valid for the other party."""
        runtime, store = await hub.attach(call)
        connection = Connection(send, speaker, output, audio=audio)
        runtime.connections[connection.id] = connection
        return cls(hub, runtime, store, connection, speaker)

    async def audio(self, data: bytes, encoding: AudioEncoding = AudioEncoding.PCM_S16LE) -> None:
        """The party's speech: 16-bit PCM at 16 kHz, or mu-law at 8 kHz (any length)."""
        rate = SAMPLE_RATE if encoding is AudioEncoding.PCM_S16LE else TELEPHONE_RATE
        # One counter for every leg of this process: a leg that reconnects keeps increasing.
        sequence = next(_SEQUENCE)
        self.runtime.accept_audio(DecodedAudio(self.speaker, sequence, encoding, rate, data))
        await self.store.mark_active()

    async def dtmf(self, digit: str, duration_ms: int | None = None) -> None:
        await self.runtime.dtmf(self.speaker, digit, duration_ms)

    async def close(self, end_call_reason: str | None = None) -> None:
        """Leave the call; with a reason, end the whole call (the phone leg hung up)."""
        self.runtime.connections.pop(self.connection.id, None)
        if end_call_reason is not None:
            await self.hub.end(self.runtime.id, end_call_reason)
        elif not self.runtime.ended.is_set():
            await self.store.touch()
