"""The WebRTC leg against an independent aiortc peer on this machine's addresses: the
offer/answer contract, its errors, media both ways and the peer's end; and the outbound
track's pacing and barge-in on their own."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import av
import httpx
import numpy as np
import pytest
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError
from fastapi import FastAPI

from kallglot.core.errors import ConfigurationError
from kallglot.core.settings import IceServer, Settings, load_settings
from kallglot.realtime.player import OutputChunk
from kallglot.realtime.protocol import Party
from kallglot.telephony.media.codecs import OPUS_FRAME_SAMPLES, OPUS_RATE
from kallglot.telephony.webrtc import TranslatedSpeechTrack, WebRtcLegs, mono_pcm
from kallglot.telephony.webrtc.peer import WebRtcLeg, ice_configuration
from tests.conftest import FLEURS_DIR, MigratedDatabase
from tests.realtime.conftest import LiveServer, new_session
from tests.support.waiting import until

NO_ICE_SERVERS = RTCConfiguration(iceServers=[])


@pytest.fixture
async def browser_peer() -> AsyncIterator[RTCPeerConnection]:
    """The far end: aiortc as a browser would be, sending a FLEURS clip as its microphone."""
    peer = RTCPeerConnection(NO_ICE_SERVERS)
    player = MediaPlayer(str(FLEURS_DIR / "fleurs-en-004.ogg"))
    peer.addTrack(player.audio)
    try:
        yield peer
    finally:
        await peer.close()
        if player.audio is not None:
            player.audio.stop()


async def offer_of(peer: RTCPeerConnection) -> str:
    await peer.setLocalDescription(await peer.createOffer())
    return str(peer.localDescription.sdp)


def url(server: LiveServer, session_id: str, token: str) -> str:
    return f"{server.base_url}/v1/sessions/{session_id}/webrtc?token={token}"


async def test_the_offer_contract_and_its_errors(
    live_server: LiveServer,
    database: MigratedDatabase,
    organization_id: str,
    browser_peer: RTCPeerConnection,
) -> None:
    session_id, token = new_session(database, organization_id, mode="transcription")
    legs: WebRtcLegs = live_server.app.state.webrtc
    offer = await offer_of(browser_peer)
    async with httpx.AsyncClient(timeout=20) as http:

        async def post(body: Any, to: str | None = None) -> httpx.Response:
            return await http.post(to or url(live_server, session_id, token), json=body)

        refused = await post(
            {"type": "offer", "sdp": offer, "speaker": "agent"},
            url(live_server, session_id, token + "x"),
        )
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["type"] == "authentication_error"
        unknown = await post(
            {"type": "offer", "sdp": offer, "speaker": "agent"},
            url(live_server, "sess_unknown", token),
        )
        assert unknown.status_code == 401, unknown.text  # as the WebSocket: no existence leak
        for body, param in (
            ({"type": "answer", "sdp": offer, "speaker": "agent"}, "type"),
            ({"type": "offer", "sdp": offer, "speaker": "boss"}, "speaker"),
            ({"type": "offer", "speaker": "agent"}, "sdp"),
            ({"type": "offer", "sdp": "v=0\r\nthis is no SDP\r\n", "speaker": "agent"}, "sdp"),
            ({"type": "offer", "sdp": video_only(offer), "speaker": "agent"}, "sdp"),
            *(
                ({"type": "offer", "sdp": truncated, "speaker": "agent"}, "sdp")
                for truncated in truncated_lines(offer)
            ),
        ):
            bad = await post(body)
            assert bad.status_code == 422, bad.text
            assert bad.json()["error"]["param"] == param, bad.text
        no_audio = await post(
            {"type": "offer", "sdp": await data_channel_offer(), "speaker": "agent"}
        )
        assert no_audio.status_code == 422, no_audio.text
        assert no_audio.json()["error"]["code"] == "invalid_sdp"
        assert "no audio" in no_audio.json()["error"]["message"]
        assert len(legs) == 0, "a refused offer left a leg behind"

        answered = await post({"type": "offer", "sdp": offer, "speaker": "agent"})
        assert answered.status_code == 200, answered.text
        answer = answered.json()
        assert answer["type"] == "answer"
        assert "opus/48000/2" in answer["sdp"]
        assert "typ host" in answer["sdp"] and "typ srflx" not in answer["sdp"]
        again = await post({"type": "offer", "sdp": offer, "speaker": "agent"})
        assert again.status_code == 409, again.text
        assert again.json()["error"]["code"] == "webrtc_already_connected"

    await browser_peer.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    await until(lambda: browser_peer.connectionState == "connected", "ICE/DTLS never came up")
    leg = legs.get(session_id, Party.AGENT)
    assert leg is not None
    await until(lambda: leg.frames_received >= 25, "no audio from the browser peer")
    (receiver,) = browser_peer.getReceivers()
    heard = await asyncio.wait_for(receiver.track.recv(), 5)  # the server's track, decoded
    assert isinstance(heard, av.AudioFrame) and heard.sample_rate == OPUS_RATE

    await browser_peer.close()  # the client goes away: its leg follows
    await until(lambda: len(legs) == 0, "the server kept the peer of a closed client")
    runtime = live_server.app.state.realtime.runtimes.get(session_id)
    assert runtime is None or not any(
        c.party is Party.AGENT for c in runtime.connections.values()
    ), "the agent's connection outlived its peer"


async def test_the_session_ending_closes_the_peer(
    live_server: LiveServer,
    database: MigratedDatabase,
    organization_id: str,
    browser_peer: RTCPeerConnection,
) -> None:
    session_id, token = new_session(database, organization_id, mode="transcription")
    legs: WebRtcLegs = live_server.app.state.webrtc
    async with httpx.AsyncClient(timeout=20) as http:
        answered = await http.post(
            url(live_server, session_id, token),
            json={"type": "offer", "sdp": await offer_of(browser_peer), "speaker": "caller"},
        )
    assert answered.status_code == 200, answered.text
    await browser_peer.setRemoteDescription(RTCSessionDescription(answered.json()["sdp"], "answer"))
    await until(lambda: browser_peer.connectionState == "connected", "ICE/DTLS never came up")

    stream = f"{live_server.ws_url}/v1/sessions/{session_id}/connect?token={token}"
    async with websockets.connect(stream) as ws:
        await ws.send(json.dumps({"type": "session.end"}))
        await until(lambda: len(legs) == 0, "the peer outlived its session")
    # The server closed its side: the browser's peer sees the DTLS close.
    await until(lambda: browser_peer.connectionState == "closed", "the browser was not told")


async def data_channel_offer() -> str:
    """A valid offer with no audio at all (a data channel only)."""
    peer = RTCPeerConnection(NO_ICE_SERVERS)
    try:
        peer.createDataChannel("chat")
        return await offer_of(peer)
    finally:
        await peer.close()


def truncated_lines(offer: str) -> list[str]:
    """The offer with one line cut short: each trips aiortc's parser in a different way."""
    cuts = {"v=0": "v=", "a=group:": "a=group", "m=audio": "m=", "a=setup:": "a=setup"}
    lines = offer.split("\r\n")
    return [
        "\r\n".join(cut if line.startswith(prefix) else line for line in lines)
        for prefix, cut in cuts.items()
    ]


def video_only(offer: str) -> str:
    """The offer with its audio section turned into a video one (no audio to answer)."""
    return offer.replace("m=audio", "m=video")


async def test_a_peer_that_never_connects_is_closed(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str
) -> None:
    settings: Settings = live_server.app.state.settings
    legs: WebRtcLegs = live_server.app.state.webrtc
    legs.settings = settings.model_copy(update={"webrtc_connect_timeout_seconds": 1.0})
    session_id, token = new_session(database, organization_id, mode="transcription")
    silent = RTCPeerConnection(NO_ICE_SERVERS)
    try:
        silent.addTransceiver("audio", direction="sendrecv")
        async with httpx.AsyncClient(timeout=20) as http:
            answered = await http.post(
                url(live_server, session_id, token),
                json={"type": "offer", "sdp": await offer_of(silent), "speaker": "caller"},
            )
        assert answered.status_code == 200, answered.text
        assert legs.get(session_id, Party.CALLER) is not None
        # The answer is never applied, so no connectivity check ever reaches the server.
        await until(lambda: len(legs) == 0, "a peer that never connected is still open")
    finally:
        await silent.close()


def test_ice_servers_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "KALLGLOT_WEBRTC_ICE_SERVERS",
        '[{"urls": "turn:turn.example.net:3478?transport=tcp", "username": "kg",'
        ' "credential": "s3cret"}, {"urls": ["stun:stun.example.net:3478"]}]',
    )
    turn, stun = load_settings(env="test").webrtc_ice_servers
    assert turn.urls == ["turn:turn.example.net:3478?transport=tcp"]
    assert turn.credential is not None and turn.credential.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(turn)
    assert stun.urls == ["stun:stun.example.net:3478"] and stun.username is None
    monkeypatch.setenv("KALLGLOT_WEBRTC_ICE_SERVERS", '[{"urls": "https://turn.example.net"}]')
    with pytest.raises(ConfigurationError, match="KALLGLOT_WEBRTC_ICE_SERVERS"):
        load_settings(env="test")


def test_ice_servers_come_only_from_the_settings() -> None:
    assert ice_configuration([]).iceServers == []  # not aiortc's default public STUN
    configured = ice_configuration(
        [
            IceServer.model_validate(
                {"urls": "turn:turn.example.net:3478", "username": "u", "credential": "p"}
            )
        ]
    )
    assert configured.iceServers is not None
    (server,) = configured.iceServers
    assert server.urls == ["turn:turn.example.net:3478"]
    assert (server.username, server.credential) == ("u", "p")


async def test_the_outbound_track_paces_speech_then_silence_and_barge_in_drops_it() -> None:
    track = TranslatedSpeechTrack()
    tone = (np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000) * 8000).astype("<i2")
    track.push(tone.tobytes())  # one second of speech
    assert track.queued_seconds == pytest.approx(1.0, abs=0.05)
    started = time.monotonic()
    frames = [await track.recv() for _ in range(10)]
    # Paced (no burst): ten frames take at least nine frame periods; a busy machine only adds.
    assert time.monotonic() - started >= 0.16
    assert all(f.samples == OPUS_FRAME_SAMPLES and f.sample_rate == OPUS_RATE for f in frames)
    assert [f.pts for f in frames] == [i * OPUS_FRAME_SAMPLES for i in range(10)]
    assert min(np.abs(f.to_ndarray()).max() for f in frames[1:]) > 4000  # the tone, not zeros

    dropped = track.clear()  # barge-in
    assert dropped == pytest.approx(0.8, abs=0.05)
    after = await track.recv()
    assert not after.to_ndarray().any(), "silence after the clear, not the rest of the tone"
    assert track.speech_frames_sent == 10

    # A stall (nobody asked for frames) restarts the schedule: no catch-up burst.
    await asyncio.sleep(0.3)
    started = time.monotonic()
    for _ in range(5):
        await track.recv()
    assert time.monotonic() - started >= 0.07
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()


async def test_barge_in_for_the_other_party_keeps_the_speech() -> None:
    legs = WebRtcLegs(Settings(env="test"))
    leg = WebRtcLeg(legs, "sess_x", Party.AGENT)
    try:
        await leg.on_audio(OutputChunk("utt_1", bytes(3200), sequence=1, generation=0))
        assert leg.outbound.queued_seconds == pytest.approx(0.1, abs=0.02)
        await leg.on_event({"type": "audio.clear", "listener": "caller"})
        assert leg.outbound.queued_seconds > 0
        await leg.on_event({"type": "audio.clear", "listener": "agent"})
        assert leg.outbound.queued_seconds == 0
    finally:
        await leg.close()


def test_mono_pcm_mixes_aiortc_stereo_and_float_frames() -> None:
    left = np.full(960, 1000, dtype=np.int16)
    right = np.full(960, 3000, dtype=np.int16)
    packed = av.AudioFrame.from_ndarray(
        np.stack([left, right], axis=1).reshape(1, -1), format="s16", layout="stereo"
    )
    assert (mono_pcm(packed) == 2000).all()
    planar = av.AudioFrame.from_ndarray(
        np.stack([left, right]).astype(np.float32) / 32768, format="fltp", layout="stereo"
    )
    assert (mono_pcm(planar) == 2000).all()


def test_the_endpoint_is_documented_in_the_openapi_schema(app: FastAPI) -> None:
    schema = app.openapi()
    operation = schema["paths"]["/v1/sessions/{session_id}/webrtc"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WebRtcOffer"
    }
    assert {"200", "401", "409", "422", "503"} <= set(operation["responses"])
    offer = schema["components"]["schemas"]["WebRtcOffer"]
    assert set(offer["required"]) == {"type", "sdp", "speaker"}
    assert [p["name"] for p in operation["parameters"]] == ["session_id", "token"]
