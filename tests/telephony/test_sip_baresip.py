"""Debian's baresip, a real SIP phone (Opus), calls a SIP session through the gateway: it plays a
FLEURS clip (aufile) and records what it hears (sndfile), while the agent speaks over the
session WebSocket. The session's transcript has the phone's words, and the phone heard the
agent's words translated (Whisper reads its recording back)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
from pathlib import Path

import pytest
import websockets

from kallglot.core.settings import Settings
from kallglot.speech.asr import whisper
from kallglot.speech.audio import decode_file
from kallglot.speech.metrics import normalise
from kallglot.telephony.sip import SipGateway
from tests.conftest import FLEURS_DIR, MigratedDatabase, sqlite_only
from tests.realtime.conftest import (
    Collected,
    LiveServer,
    collect,
    mulaw_clip,
    new_session,
    send_mulaw,
)
from tests.support.tools import required
from tests.support.waiting import until
from tests.telephony.baresip_helpers import baresip_config, wav_8k

pytestmark = [
    pytest.mark.slow,
    sqlite_only,
    pytest.mark.timeout(300),
]


@pytest.fixture(autouse=True)
def baresip_installed() -> None:
    required("baresip", "baresip")


CALLER = ("es", 0)  # the phone speaks Spanish
AGENT = ("en", 1)  # the agent answers in English; the phone hears it in Spanish


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "sip_listen": "udp:127.0.0.1:0",
            "sip_rtp_port_min": 50000,
            "sip_rtp_port_max": 54999,
            "telephony_media_idle_seconds": 60.0,
        }
    )


def overlap(reference: str, heard: str) -> float:
    said = normalise(reference)
    words = set(normalise(heard))
    return sum(word in words for word in said) / len(said) if said else 0.0


async def test_baresip_calls_a_session_and_hears_the_agent_translated(
    live_server: LiveServer,
    database: MigratedDatabase,
    organization_id: str,
    tmp_path: Path,
) -> None:
    gateway: SipGateway = live_server.app.state.sip_gateway
    session_id, token = new_session(
        database,
        organization_id,
        mode="bidirectional_translation",
        source_language=CALLER[0],
        target_language=AGENT[0],
        routing={"type": "sip"},
    )
    caller_clip = FLEURS_DIR / f"fleurs-{CALLER[0]}-{CALLER[1]:03d}.ogg"
    recordings = tmp_path / "heard"
    home = baresip_config(
        tmp_path / "baresip", wav_8k(tmp_path / "caller.wav", caller_clip), recordings
    )
    agent_speech, _ = mulaw_clip(*AGENT)
    events = Collected()
    agent_url = f"{live_server.ws_url}/v1/sessions/{session_id}/connect?token={token}&party=agent"
    log = (tmp_path / "baresip.log").open("wb")
    dial = f"/dial sip:{session_id}@127.0.0.1:{gateway.port}"
    phone = await asyncio.create_subprocess_exec(
        *["baresip", "-4", "-f", str(home), "-e", dial, "-t", "240"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        async with websockets.connect(agent_url) as agent:
            reader = asyncio.create_task(collect(agent, events))
            await until(lambda: gateway.dialogs, within=30)
            dialog = next(iter(gateway.dialogs.values()))
            # baresip offers Opus first (G.711 is what SIPp and the RTP tests exercise)
            assert dialog.rtp.negotiated is not None
            assert dialog.rtp.negotiated.codec_name == "opus"
            await until(lambda: events.of("transcript.final", speaker="customer"), within=120)
            await send_mulaw(agent, "agent", agent_speech, speed=4.0)
            await until(lambda: events.of("latency", speaker="agent"), within=120)
            # the translation is paced out at real time: wait until it has all been sent
            await until(lambda: dialog.rtp.packets_sent > 50 and dialog.rtp.queued == 0, within=120)
            await asyncio.sleep(1.0)
            await agent.send(json.dumps({"type": "session.end"}))
            await asyncio.wait_for(reader, timeout=60)
        # the session's end hangs the phone up (our BYE); nothing of the call is left
        await until(lambda: not gateway.dialogs, within=20)
    finally:
        if phone.returncode is None:
            phone.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(phone.wait(), 10)
        except TimeoutError:
            phone.kill()
            await asyncio.wait_for(phone.wait(), 10)
        log.close()
    output = (tmp_path / "baresip.log").read_text(errors="replace")
    assert gateway.open_rtp_streams == 0

    said = " ".join(e["text"] for e in events.of("transcript.final", speaker="customer"))
    reference = caller_clip.with_suffix(".txt").read_text()
    assert overlap(reference, said) >= 0.5, (said, output[-2000:])

    translation = " ".join(
        e["translation"]["text"]
        for e in events.of("transcript.final", speaker="agent")
        if e["translation"]
    )
    heard_files = sorted(recordings.glob("*dec*.wav"))
    assert heard_files, f"baresip recorded nothing: {list(recordings.iterdir())}\n{output[-2000:]}"
    heard = decode_file(max(heard_files, key=lambda p: p.stat().st_size))
    back = await asyncio.to_thread(lambda: whisper().transcribe(heard, CALLER[0]).text)
    # espeak-ng's Spanish voice is read back less faithfully than Piper's (see test_call.py)
    assert overlap(translation, back) >= 0.25, (translation, back)
    with contextlib.suppress(FileNotFoundError):
        (tmp_path / "baresip.log").unlink()
