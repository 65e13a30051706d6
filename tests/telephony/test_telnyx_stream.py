"""The Telnyx media streaming endpoint, spoken to by a real WebSocket client sending the
recorded protocol frames: out-of-order, duplicated and lost frames, A-law, bad peers, and
a whole translated call with the real speech engines."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Any

import httpx
import pytest
import websockets
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from websockets.exceptions import ConnectionClosed

from kallglot.billing.metering import add_credit
from kallglot.core.settings import Settings
from kallglot.speech import g711
from kallglot.speech.metrics import word_error_rate
from tests.conftest import MigratedDatabase, sqlite_only
from tests.factories import Identity
from tests.realtime.conftest import (
    Collected,
    LiveServer,
    collect,
    mulaw_clip,
    new_session,
    send_mulaw,
)
from tests.support.waiting import until
from tests.telephony.streams import closed_with, settled
from tests.telephony.telnyx_helpers import (
    PUBLIC_KEY,
    TELNYX_API_KEY,
    WEBHOOK,
    call_initiated,
    frame,
    media_frame,
    signed_headers,
    start_frame,
    token_state,
)
from tests.telephony_numbers.helpers import make_agent, make_number, make_queue, member_id

pytestmark = [sqlite_only, pytest.mark.timeout(300)]


@pytest.fixture
def settings(settings: Settings, httpserver: HTTPServer) -> Settings:
    return settings.model_copy(
        update={
            "telnyx_api_key": SecretStr(TELNYX_API_KEY),
            "telnyx_public_key": PUBLIC_KEY,
            "telnyx_base_url": httpserver.url_for("/v2"),
        }
    )


def media_url(server: LiveServer, session_id: str) -> str:
    return f"{server.ws_url}/v1/telephony/telnyx/media/{session_id}"


async def test_garbage_closes_the_stream_and_ends_its_call(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str
) -> None:
    session_id, token = new_session(database, organization_id, mode="transcription")
    async with websockets.connect(media_url(live_server, session_id)) as ws:
        await ws.send(json.dumps(frame("connected")))
        await ws.send(start_frame(token_state(token)))
        await ws.send("this is not JSON {")
        assert await closed_with(ws) == 1007
    assert await settled(live_server, session_id, database) == "ended"


async def test_media_before_start_and_unknown_codecs_are_refused(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str
) -> None:
    session_id, token = new_session(database, organization_id, mode="transcription")
    async with websockets.connect(media_url(live_server, session_id)) as ws:
        await ws.send(json.dumps(frame("connected")))
        await ws.send(media_frame(1, b"\xff" * 160))
        assert await closed_with(ws) == 1007
    async with websockets.connect(media_url(live_server, session_id)) as ws:
        await ws.send(start_frame(token_state(token), encoding="G722"))
        assert await closed_with(ws) == 1007
    assert await settled(live_server, session_id, database) == "created"


async def test_a_wrong_token_is_refused_and_the_session_untouched(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str
) -> None:
    session_id, token = new_session(database, organization_id, mode="transcription")
    async with websockets.connect(media_url(live_server, session_id)) as ws:
        await ws.send(start_frame(token_state(token + "x")))
        assert await closed_with(ws) == 4401
    async with websockets.connect(media_url(live_server, session_id)) as ws:
        await ws.send(start_frame("not base64!"))
        assert await closed_with(ws) == 1007
    assert await settled(live_server, session_id, database) == "created"


async def test_a_stream_that_stops_sending_is_closed_and_its_call_ended(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str
) -> None:
    session_id, token = new_session(database, organization_id, mode="transcription")
    async with websockets.connect(media_url(live_server, session_id)) as ws:
        await ws.send(start_frame(token_state(token)))
        assert await closed_with(ws) == 1000  # after telephony_media_idle_seconds of nothing
    assert await settled(live_server, session_id, database) == "ended"


async def test_the_webhook_answer_opens_the_stream_and_stop_ends_the_call(
    live_server: LiveServer,
    database: MigratedDatabase,
    identity: Identity,
    httpserver: HTTPServer,
) -> None:
    """Telnyx's whole inbound path: the signed webhook, our answer command, then Telnyx
    connecting to the stream URL we gave with the client_state we gave."""
    org = identity.organization()
    anna = member_id(identity, org, "Anna")
    with database.sessions.begin() as db:
        add_credit(db, org.id, 60 * 60, "grant:test")
        agent = make_agent(db, anna, org, "Anna", ["en"], "available", 5)
        make_number(db, org, make_queue(db, org, [agent]), e164="+493012345670")
    httpserver.expect_oneshot_request(
        "/v2/calls/"
        + call_initiated("+1")["data"]["payload"]["call_control_id"]
        + "/actions/answer"
    ).respond_with_json({"data": {"result": "ok"}})
    body = json.dumps(call_initiated("+493012345670"))
    async with httpx.AsyncClient(base_url=live_server.base_url) as http:
        response = await http.post(WEBHOOK, content=body, headers=signed_headers(body))
    assert response.status_code == 200, response.text
    session_id = response.json()["session_id"]
    answer = json.loads(httpserver.log[0][0].get_data())
    stream_path = answer["stream_url"].split("/v1/", 1)[1]
    async with websockets.connect(f"{live_server.ws_url}/v1/{stream_path}") as ws:
        await ws.send(json.dumps(frame("connected")))
        await ws.send(start_frame(answer["client_state"]))
        for chunk in range(1, 6):
            await ws.send(media_frame(chunk, b"\xff" * 160))
        await ws.send(json.dumps(frame("error")))  # logged; the stream goes on
        await ws.send(json.dumps(frame("stop")))
        assert await closed_with(ws) == 1000
    assert await settled(live_server, session_id, database) == "ended"


def shuffled_frames(audio: bytes) -> list[tuple[int, bytes]]:
    """20 ms frames as a carrier's network might deliver them: every third pair swapped,
    every 40th frame sent twice, every 97th never sent."""
    frames = [(n + 1, audio[o : o + 160]) for n, o in enumerate(range(0, len(audio), 160))]
    for index in range(0, len(frames) - 1, 6):
        frames[index], frames[index + 1] = frames[index + 1], frames[index]
    delivered: list[tuple[int, bytes]] = []
    for chunk, payload in frames:
        if chunk % 97 == 0:
            continue
        delivered.append((chunk, payload))
        if chunk % 40 == 0:
            delivered.append((chunk, payload))
    return delivered


ALAW_SILENCE = b"\xd5" * 160


async def carrier_sends(ws: Any, frames: list[tuple[int, bytes]]) -> None:
    """As a carrier does: the caller's frames at twice real time, then silence at real
    time for as long as the call lasts (the line never goes quiet)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    for index, (chunk, payload) in enumerate(frames):
        await ws.send(media_frame(chunk, payload))
        await asyncio.sleep(max(0.0, started + (index + 1) * 0.01 - loop.time()))
    chunk = max(chunk for chunk, _ in frames)
    while True:
        chunk += 1
        await ws.send(media_frame(chunk, ALAW_SILENCE))
        await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_an_a_law_caller_out_of_order_is_understood_and_hears_the_agent_translated(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str
) -> None:
    session_id, token = new_session(
        database,
        organization_id,
        mode="bidirectional_translation",
        source_language="es",
        target_language="en",
    )
    spanish, spanish_text = mulaw_clip("es", 0)
    english, _ = mulaw_clip("en", 0)
    caller_alaw = g711.alaw_encode(g711.mulaw_decode(spanish))
    agent_events = Collected()
    heard: list[dict[str, Any]] = []

    async def telnyx_reads(ws: Any) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                heard.append(json.loads(raw))

    agent_url = f"{live_server.ws_url}/v1/sessions/{session_id}/connect?token={token}&party=agent"
    async with (
        websockets.connect(agent_url) as agent,
        websockets.connect(media_url(live_server, session_id)) as telnyx,
    ):
        agent_reader = asyncio.create_task(collect(agent, agent_events))
        telnyx_reader = asyncio.create_task(telnyx_reads(telnyx))
        await telnyx.send(json.dumps(frame("connected")))
        await telnyx.send(start_frame(token_state(token), encoding="PCMA"))
        dtmf = frame("dtmf")
        dtmf["dtmf"]["digit"] = "7"
        await telnyx.send(json.dumps(dtmf))
        speaking = asyncio.create_task(carrier_sends(telnyx, shuffled_frames(caller_alaw)))

        def caller_final() -> bool:
            return any(
                f["translation"] for f in agent_events.of("transcript.final", speaker="customer")
            )

        await until(caller_final, "translated final of the caller", within=120)
        await send_mulaw(agent, "agent", english, speed=4.0)

        def translated_speech_heard() -> bool:
            # more than half a second of it, paced at real time, and the marks after it
            media = sum(1 for m in heard if m["event"] == "media")
            return media > 25 and any(m["event"] == "mark" for m in heard)

        await until(translated_speech_heard, "the agent's translated speech", within=120)
        mark = next(m for m in heard if m["event"] == "mark")
        echo = frame("mark")
        echo["mark"]["name"] = mark["mark"]["name"]
        await telnyx.send(json.dumps(echo))
        speaking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await speaking
        await telnyx.send(json.dumps(frame("stop")))
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(telnyx_reader, timeout=30)
        await asyncio.wait_for(agent_reader, timeout=60)

    finals = agent_events.of("transcript.final", speaker="customer")
    said = " ".join(f["text"] for f in finals)
    assert word_error_rate([spanish_text], [said]) <= 0.5, said
    assert all(f["translation"]["language"] == "en" for f in finals if f["translation"])
    assert agent_events.of("dtmf", speaker="customer", digit="7")
    media = [m for m in heard if m["event"] == "media"]
    assert len(media) > 25  # more than half a second of the agent, translated, reached Telnyx
    assert all(len(base64.b64decode(m["media"]["payload"])) == 160 for m in media)
    assert set(heard[0]) <= {"event", "media", "mark"}  # no Twilio-style streamSid
    assert await settled(live_server, session_id, database) == "ended"
