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
import wave
from pathlib import Path

import pytest
import websockets

from kallglot.core.settings import Settings
from kallglot.speech.asr import whisper
from kallglot.speech.audio import decode_file, resample
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
from tests.telephony.sipp_runner import free_udp_port

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


def wav_8k(path: Path, source: Path, tail_silence_s: float = 180.0) -> Path:
    """The clip, then silence: baresip hangs up when its aufile source ends, and the call
    must last until the agent's translated answer has been heard."""
    samples = resample(decode_file(source), 16000, 8000)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples.tobytes() + b"\0\0" * int(8000 * tail_silence_s))
    return path


def baresip_config(directory: Path, clip: Path, recordings: Path) -> Path:
    """A throwaway baresip home: no sound card, aufile as microphone, sndfile records."""
    directory.mkdir()
    recordings.mkdir()
    sip_port, rtp_base = free_udp_port(), 55000
    (directory / "config").write_text(
        "\n".join(
            [
                "poll_method epoll",
                f"sip_listen 127.0.0.1:{sip_port}",
                "net_interface 127.0.0.1",
                f"audio_source aufile,{clip}",
                "audio_player aufile,/dev/null",
                "audio_alert aufile,/dev/null",
                "ausrc_srate 8000",
                "auplay_srate 8000",
                "ausrc_channels 1",  # the clip is mono; baresip up-mixes for stereo Opus
                "auplay_channels 1",
                f"rtp_ports {rtp_base}-{rtp_base + 999}",
                "module_path /usr/lib/baresip/modules",
                "module opus.so",  # loaded first: offered first
                "module g711.so",
                "module aufile.so",
                "module sndfile.so",
                "module_app account.so",
                "module_app menu.so",
                f"snd_path {recordings}",
                "",
            ]
        )
    )
    (directory / "accounts").write_text(
        "<sip:phone@127.0.0.1>;regint=0;audio_codecs=opus/48000/2,PCMU\n"
    )
    (directory / "contacts").write_text("")
    return directory


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
