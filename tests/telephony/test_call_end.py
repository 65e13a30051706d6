"""The end of a routed call with real peers: a Twilio Media Streams caller hangs up (``stop``),
an agent hangs up through the API on a SIP phone (baresip). Whichever leg ends the call, the
other legs, the call record, the agent and the session follow in one transition."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import signal
import subprocess
import wave
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import websockets
from twilio.request_validator import RequestValidator

from kallglot.accounts.permissions import Permission, Role
from kallglot.core.settings import Settings
from kallglot.realtime.models import CallSession
from kallglot.telephony.calls.models import CallRecord
from kallglot.telephony.routing.models import Agent
from kallglot.telephony.sip import SipGateway
from tests.conftest import MigratedDatabase, sqlite_only
from tests.factories import Identity
from tests.realtime.conftest import Collected, LiveServer, collect
from tests.telephony.baresip_helpers import baresip_config
from tests.telephony.conftest import TWILIO_AUTH_TOKEN
from tests.telephony.twilio_helpers import start_event
from tests.telephony_numbers.helpers import make_agent, make_number, make_queue

pytestmark = [sqlite_only, pytest.mark.timeout(300)]

NUMBER = "+493012349900"
MULAW_SILENCE = base64.b64encode(b"\xff" * 160).decode()


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


async def until(condition: Callable[[], Any], within_s: float = 30) -> Any:
    """Poll ``condition`` until it holds (the server runs in another thread)."""
    for _ in range(int(within_s * 10)):
        if result := condition():
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"not reached within {within_s} s")


def staffed_number(identity: Identity, database: MigratedDatabase) -> tuple[Identity, Any, str]:
    org = identity.organization()
    ana = identity.user(org, Role.AGENT, email="ana-ends@example.com")
    with database.sessions.begin() as db:
        agent = make_agent(db, ana.id, org, "Ana", ["en"], "available", 5)
        make_number(db, org, make_queue(db, org, [agent]), e164=NUMBER).languages = ["es"]
        agent_id = agent.id
    return identity, (org, ana), agent_id


def ring(server: LiveServer, settings: Settings, call_sid: str) -> tuple[str, str]:
    """Twilio's voice webhook: the session the call streams into and its (carrier) token."""
    params = {"CallSid": call_sid, "AccountSid": "AC" + "1" * 32, "From": "+34600000001"}
    params["To"] = NUMBER
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(
        settings.public_base_url + "/v1/telephony/twilio/voice", params
    )
    response = httpx.post(
        server.base_url + "/v1/telephony/twilio/voice",
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    stream = ET.fromstring(response.text).find("./Connect/Stream")
    assert stream is not None, response.text  # streamed to an agent, not the overflow
    token = stream.find("./Parameter[@name='token']")
    assert token is not None
    return stream.get("url", "").rsplit("/", 1)[-1], token.get("value", "")


def record_of(database: MigratedDatabase, session_id: str) -> CallRecord:
    with database.sessions() as db:
        record = db.query(CallRecord).filter(CallRecord.session_id == session_id).one()
        db.expunge(record)
        return record


def stored(database: MigratedDatabase, session_id: str, agent_id: str) -> tuple[str, str, str]:
    with database.sessions() as db:
        session = db.get_one(CallSession, session_id)
        agent = db.get_one(Agent, agent_id)
        return session.status, record_of(database, session_id).outcome, agent.presence


async def test_the_callers_stop_ends_the_call_and_the_next_call_reaches_the_same_agent(
    live_server: LiveServer, settings: Settings, identity: Identity, database: MigratedDatabase
) -> None:
    _, (_, ana), agent_id = staffed_number(identity, database)
    session_id, carrier_token = ring(live_server, settings, "CA" + "1" * 32)
    record = record_of(database, session_id)

    answered = identity.login(ana).post(f"/v1/calls/{record.id}/answer", json={})
    assert answered.status_code == 200, answered.text
    agent_token = answered.json()["stream"]["token"]

    agent_events = Collected()
    agent_url = f"{live_server.ws_url}/v1/sessions/{session_id}/connect?token={agent_token}"
    caller_url = f"{live_server.ws_url}/v1/telephony/twilio/media/{session_id}"
    async with websockets.connect(f"{agent_url}&party=agent") as agent:
        reader = asyncio.create_task(collect(agent, agent_events))
        # The carrier's stream connects after the answer: its own token still opens the call.
        async with websockets.connect(caller_url) as caller:
            await caller.send(json.dumps({"event": "connected", "protocol": "Call"}))
            await caller.send(start_event(carrier_token))
            for sequence in range(2, 27):  # half a second of the caller's line
                media = {"event": "media", "sequenceNumber": str(sequence)}
                media["media"] = {"track": "inbound", "payload": MULAW_SILENCE}
                await caller.send(json.dumps(media))
            await until(lambda: stored(database, session_id, agent_id)[0] == "active")
            await caller.send(json.dumps({"event": "stop", "sequenceNumber": "27"}))
        # The agent's WebSocket hears the end and is closed by the server.
        await asyncio.wait_for(reader, timeout=30)

    assert [e["reason"] for e in agent_events.of("session.ended")] == ["completed"]
    assert await until(
        lambda: stored(database, session_id, agent_id) == ("ended", "completed", "available")
    )
    assert record_of(database, session_id).end_reason == "completed"
    assert session_id not in live_server.app.state.realtime.runtimes

    second_session, _ = ring(live_server, settings, "CA" + "2" * 32)
    assert record_of(database, second_session).agent_id == agent_id


def silent_wav(path: Path, seconds: float) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))
    return path


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("baresip") is None, reason="baresip is installed by make setup")
async def test_the_agents_hangup_sends_a_bye_to_the_sip_caller_who_heard_rtp_from_the_answer(
    live_server: LiveServer, identity: Identity, database: MigratedDatabase, tmp_path: Path
) -> None:
    gateway: SipGateway = live_server.app.state.sip_gateway
    _, (org, ana), agent_id = staffed_number(identity, database)
    key = identity.api_key(org, {Permission.CALLS_ANSWER})
    recordings = tmp_path / "heard"
    # The phone says nothing: whatever it hears is what we send before any speech exists.
    home = baresip_config(tmp_path / "baresip", silent_wav(tmp_path / "quiet.wav", 200), recordings)
    # A caller with a telephone number (the call record keeps it), not baresip's "phone".
    (home / "accounts").write_text("<sip:+34600000002@127.0.0.1>;regint=0;audio_codecs=PCMU\n")
    log_path = tmp_path / "baresip.log"
    log = log_path.open("wb")
    phone = await asyncio.create_subprocess_exec(
        *["baresip", "-4", "-f", str(home), "-e", f"/dial sip:{NUMBER}@127.0.0.1:{gateway.port}"],
        *["-t", "240"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        await until(lambda: gateway.dialogs, 30)
        dialog = next(iter(gateway.dialogs.values()))
        record = record_of(database, dialog.session_id)
        answered = identity.login(ana).post(f"/v1/calls/{record.id}/answer", json={})
        assert answered.status_code == 200, answered.text
        # RTP flows from the SIP answer on, before any translated speech exists.
        await until(lambda: dialog.rtp.silence_sent >= 50, 30)
        assert dialog.rtp.packets_sent == 0

        async with httpx.AsyncClient(base_url=live_server.base_url, timeout=60) as api:
            hung_up = await api.post(
                f"/v1/calls/{record.id}/hangup",
                headers={"Authorization": f"Bearer {key.secret}"},
            )
        assert hung_up.status_code == 200, hung_up.text
        assert hung_up.json()["outcome"] == "completed"
        # Our BYE reaches the phone, which ends its call.
        await until(lambda: not gateway.dialogs, 20)
        await until(lambda: "terminated" in log_path.read_text(errors="replace").lower(), 20)
    finally:
        if phone.returncode is None:
            phone.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(phone.wait(), 10)
        except TimeoutError:
            phone.kill()
            await asyncio.wait_for(phone.wait(), 10)
        log.close()
    assert stored(database, dialog.session_id, agent_id) == ("ended", "completed", "available")
    assert record_of(database, dialog.session_id).end_reason == "agent_hangup"
    heard = sorted(recordings.glob("*dec*.wav"))
    assert heard, log_path.read_text(errors="replace")[-2000:]
    with wave.open(str(max(heard, key=lambda p: p.stat().st_size))) as received:
        assert received.getnframes() > 0  # the phone decoded the RTP we sent


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("baresip") is None, reason="baresip is installed by make setup")
async def test_the_sip_callers_hangup_reaches_the_agent_and_frees_them(
    live_server: LiveServer, identity: Identity, database: MigratedDatabase, tmp_path: Path
) -> None:
    gateway: SipGateway = live_server.app.state.sip_gateway
    _, (_, ana), agent_id = staffed_number(identity, database)
    home = baresip_config(
        tmp_path / "baresip", silent_wav(tmp_path / "quiet.wav", 200), tmp_path / "heard"
    )
    (home / "accounts").write_text("<sip:+34600000004@127.0.0.1>;regint=0;audio_codecs=PCMU\n")
    log = (tmp_path / "baresip.log").open("wb")
    phone = await asyncio.create_subprocess_exec(
        *["baresip", "-4", "-f", str(home), "-e", f"/dial sip:{NUMBER}@127.0.0.1:{gateway.port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    events = Collected()
    try:
        await until(lambda: gateway.dialogs, 30)
        dialog = next(iter(gateway.dialogs.values()))
        record = record_of(database, dialog.session_id)
        answered = identity.login(ana).post(f"/v1/calls/{record.id}/answer", json={})
        assert answered.status_code == 200, answered.text
        token = answered.json()["stream"]["token"]
        url = f"{live_server.ws_url}/v1/sessions/{dialog.session_id}/connect?token={token}"
        async with websockets.connect(f"{url}&party=agent") as agent:
            reader = asyncio.create_task(collect(agent, events))
            await until(lambda: events.of("session.ready"), 30)
            phone.send_signal(signal.SIGTERM)  # the caller hangs up: baresip sends BYE
            await asyncio.wait_for(reader, timeout=30)
    finally:
        if phone.returncode is None:
            phone.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(phone.wait(), 10)
        except TimeoutError:
            phone.kill()
            await asyncio.wait_for(phone.wait(), 10)
        log.close()
    assert [e["reason"] for e in events.of("session.ended")] == ["completed"]
    assert await until(
        lambda: stored(database, dialog.session_id, agent_id) == ("ended", "completed", "available")
    )
    assert not gateway.dialogs
