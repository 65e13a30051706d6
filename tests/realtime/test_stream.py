"""The session WebSocket survives bad clients and says clearly what was wrong."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from kallglot.core.settings import Settings
from tests.conftest import MigratedDatabase, sqlite_only
from tests.realtime.conftest import LiveServer, new_session


async def next_of(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        message = json.loads(await ws.recv())
        if message["type"] == kind:
            return message


def audio(sequence: int) -> str:
    return json.dumps(
        {
            "type": "audio.input",
            "speaker": "caller",
            "sequence": sequence,
            "audio": {
                "encoding": "mulaw",
                "sample_rate_hz": 8000,
                "payload": base64.b64encode(b"\xff" * 160).decode(),
            },
        }
    )


@sqlite_only
async def test_a_wrong_token_is_refused(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str
) -> None:
    session_id, token = new_session(database, organization_id, mode="transcription")
    url = f"{live_server.ws_url}/v1/sessions/{session_id}/connect?token={token}x"
    async with websockets.connect(url) as ws:
        error = await next_of(ws, "session.error")
        assert error["code"] == "invalid_token"
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


@sqlite_only
async def test_bad_frames_get_errors_and_the_session_carries_on(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str
) -> None:
    session_id, token = new_session(database, organization_id, mode="transcription")
    url = f"{live_server.ws_url}/v1/sessions/{session_id}/connect?token={token}"
    async with websockets.connect(url) as ws:
        ready = await next_of(ws, "session.ready")
        assert ready["mode"] == "transcription"
        for bad, code in [
            ("{not json", "invalid_message"),
            ('{"type": "teleport"}', "unknown_message_type"),
            (b"\x00\x01", "invalid_message"),
        ]:
            await ws.send(bad)
            assert (await next_of(ws, "session.error"))["code"] == code
        await ws.send(audio(5))
        await ws.send(audio(5))
        assert (await next_of(ws, "session.error"))["code"] == "duplicate_frame"
        await ws.send(audio(3))
        assert (await next_of(ws, "session.error"))["code"] == "out_of_order"
        await ws.send('{"type": "ping"}')
        assert (await next_of(ws, "pong"))["session_id"] == session_id
        await ws.send('{"type": "session.end"}')
        ended = await next_of(ws, "session.ended")
        assert ended["reason"] == "explicit_end"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_concurrent_calls": 1})


@sqlite_only
async def test_a_full_node_refuses_the_next_call(
    live_server: LiveServer, database: MigratedDatabase, organization_id: str
) -> None:
    first, first_token = new_session(database, organization_id, mode="transcription")
    second, second_token = new_session(database, organization_id, mode="transcription")
    base = f"{live_server.ws_url}/v1/sessions"
    async with websockets.connect(f"{base}/{first}/connect?token={first_token}") as ws:
        await next_of(ws, "session.ready")
        async with websockets.connect(f"{base}/{second}/connect?token={second_token}") as refused:
            error = await next_of(refused, "session.error")
            assert error["code"] == "capacity_exceeded"
            with pytest.raises(ConnectionClosed) as closed:
                await refused.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1013
        await ws.send('{"type": "session.end"}')
        await next_of(ws, "session.ended")
