"""One browser peer joined to its session as a party's leg, and the node's set of them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

import av
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.exceptions import (
    InternalError,
    InvalidAccessError,
    InvalidStateError,
    OperationError,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from kallglot.core.errors import ConflictError, ValidationFailedError
from kallglot.core.settings import IceServer, Settings
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.player import OutputChunk
from kallglot.realtime.protocol import AudioEncoding, Party, ProtocolError
from kallglot.speech.audio import SAMPLE_RATE
from kallglot.telephony.leg import Leg
from kallglot.telephony.media import StreamResampler
from kallglot.telephony.webrtc.tracks import TranslatedSpeechTrack, mono_pcm

logger = logging.getLogger(__name__)

# What aiortc raises for an offer it can parse but not answer (no common codec, wrong type).
_UNANSWERABLE_OFFER = (ValueError, InternalError, InvalidAccessError, OperationError)


def ice_configuration(servers: list[IceServer]) -> RTCConfiguration:
    """The configured STUN/TURN servers, and none otherwise.

    An explicit (possibly empty) list: left to itself aiortc asks Google's public STUN
    server, which neither a test nor a closed deployment should contact.
    """
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(
                urls=server.urls,
                username=server.username,
                credential=(
                    server.credential.get_secret_value() if server.credential is not None else None
                ),
            )
            for server in servers
        ]
    )


class WebRtcLeg:
    """A peer connection whose inbound audio is ``speaker``'s speech and whose outbound
    track carries the translation meant for them. Control events stay on the session
    WebSocket; only audio travels here."""

    def __init__(self, legs: WebRtcLegs, session_id: str, speaker: Party) -> None:
        self.legs = legs
        self.session_id = session_id
        self.speaker = speaker
        self.peer = RTCPeerConnection(ice_configuration(legs.settings.webrtc_ice_servers))
        self.outbound = TranslatedSpeechTrack()
        self.leg: Leg | None = None
        self.frames_received = 0
        self.connected = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._hearing = False
        self._closing: asyncio.Task[None] | None = None

    @property
    def key(self) -> tuple[str, Party]:
        return (self.session_id, self.speaker)

    async def negotiate(self, offer_sdp: str) -> str:
        """Take the browser's offer; the answer carries our host (and relay) candidates."""
        self.peer.on("track", self._on_track)
        self.peer.on("connectionstatechange", self._on_connection_state)
        try:
            await self.peer.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        # aiortc's SDP parser is no validator: a truncated line surfaces as whatever the
        # parsing step tripped on (ValueError, KeyError, IndexError, AttributeError,
        # AssertionError...). The offer is the only input here, so any of them means it is bad.
        except Exception as exc:
            logger.info("refusing a WebRTC offer: %s: %s", type(exc).__name__, exc)
            raise ValidationFailedError(
                "The offer is not a usable SDP offer.", code="invalid_sdp", param="sdp"
            ) from None
        if not any(t.kind == "audio" for t in self.peer.getTransceivers()):
            raise ValidationFailedError(
                "The offer has no audio section.", code="invalid_sdp", param="sdp"
            )
        self.peer.addTrack(self.outbound)
        try:
            await self.peer.setLocalDescription(await self.peer.createAnswer())
        except _UNANSWERABLE_OFFER as exc:
            raise ValidationFailedError(
                f"No answer fits the offer ({exc}).", code="invalid_sdp", param="sdp"
            ) from None
        self._spawn(self._expect_connection(self.legs.settings.webrtc_connect_timeout_seconds))
        return str(self.peer.localDescription.sdp)

    # Media --------------------------------------------------------------------------------
    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and not self._hearing:
            self._hearing = True
            self._spawn(self._receive(track))
        else:  # a camera or a second microphone: not the party's speech, read and dropped
            self._spawn(self._discard(track))

    async def _receive(self, track: MediaStreamTrack) -> None:
        """The party's speech: decoded Opus at 48 kHz → 16 kHz mono → the session."""
        resampler: StreamResampler | None = None
        try:
            while True:
                frame = await track.recv()
                if not isinstance(frame, av.AudioFrame):
                    continue
                self.frames_received += 1
                if resampler is None or resampler.src_rate != frame.sample_rate:
                    resampler = StreamResampler(frame.sample_rate, SAMPLE_RATE)
                pcm = resampler.process(mono_pcm(frame))
                if pcm.size and self.leg is not None:
                    try:
                        await self.leg.audio(pcm.astype("<i2").tobytes())
                    except ProtocolError as exc:  # backpressure: that frame is dropped
                        logger.info("dropping WebRTC audio: %s", exc.code)
        except MediaStreamError:  # the browser stopped sending: its peer went away
            self.close_soon()

    async def _discard(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()

    async def on_event(self, message: dict[str, Any]) -> None:
        """The session's events for this leg: translated speech, barge-in, the end."""
        kind = message["type"]
        if kind == "audio.clear" and message.get("listener") == self.speaker.value:
            dropped = self.outbound.clear()
            logger.info("barge-in: dropped %.2f s of translated speech", dropped)
        elif kind == "session.ended":
            self.close_soon()

    async def on_audio(self, chunk: OutputChunk) -> None:
        """The translated speech meant for this party (16 kHz PCM), resampled by the track."""
        self.outbound.push(chunk.pcm16k)

    # Life cycle ---------------------------------------------------------------------------
    async def _on_connection_state(self) -> None:
        state = self.peer.connectionState
        if state == "connected":
            self.connected.set()
        elif state in ("failed", "closed"):
            logger.info("WebRTC peer of %s is %s", self.session_id, state)
            self.close_soon()

    async def _expect_connection(self, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self.connected.wait(), timeout_s)
        except TimeoutError:
            logger.info("WebRTC peer of %s never connected", self.session_id)
            self.close_soon()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"webrtc-{self.session_id}-{self.speaker}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close_soon(self) -> None:
        """Close from a callback or from one of this leg's own tasks (which close cancels)."""
        if self._closing is None:
            self._closing = asyncio.create_task(self._close(), name="webrtc-close")

    async def close(self) -> None:
        self.close_soon()
        assert self._closing is not None
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        try:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self.outbound.stop()
            with contextlib.suppress(InvalidStateError):
                await self.peer.close()
            if self.leg is not None:
                await self.leg.close()
                logger.info("WebRTC leg of %s (%s) closed", self.session_id, self.speaker)
        finally:
            # Last: a leg still in the set is still in the call (a new offer for it gets 409).
            self.legs.forget(self)


class WebRtcLegs:
    """The WebRTC legs live on this node: at most one per session and party."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._legs: dict[tuple[str, Party], WebRtcLeg] = {}

    def get(self, session_id: str, speaker: Party) -> WebRtcLeg | None:
        return self._legs.get((session_id, speaker))

    def __len__(self) -> int:
        return len(self._legs)

    async def answer(
        self, hub: RealtimeHub, session_id: str, token: str, speaker: Party, offer_sdp: str
    ) -> str:
        """Join ``speaker`` to the session with the browser's offer; returns the answer SDP.

        Raises the session WebSocket's errors for a bad token or session, 409 when that
        party already has a WebRTC leg here, 422 for an offer that cannot be answered.
        Nothing is left behind when it raises.
        """
        peer = WebRtcLeg(self, session_id, speaker)
        try:
            peer.leg = await Leg.open(
                hub,
                session_id,
                token,
                speaker,
                peer.on_event,
                AudioEncoding.PCM_S16LE,
                peer.on_audio,
            )
            if peer.key in self._legs:
                raise ConflictError(
                    f"The {speaker.value} is already connected over WebRTC.",
                    code="webrtc_already_connected",
                    param="speaker",
                )
            self._legs[peer.key] = peer
            return await peer.negotiate(offer_sdp)
        except BaseException:
            await peer.close()
            raise

    def forget(self, peer: WebRtcLeg) -> None:
        if self._legs.get(peer.key) is peer:
            del self._legs[peer.key]

    async def close_all(self) -> None:
        await asyncio.gather(*(peer.close() for peer in list(self._legs.values())))
