"""The session WebSocket: ``/v1/sessions/{id}/connect?token=kst_…``.

Authentication is the stream token, checked once at connect (an open stream
outlives the token's expiry). Malformed, duplicated or out-of-order frames get
a ``session.error`` and the stream carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from kallglot.core.errors import KallglotError
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.protocol import (
    AudioEncoding,
    AudioInput,
    Party,
    Ping,
    ProtocolError,
    SessionEnd,
    SessionUpdate,
    decode_audio,
    event,
    parse_client_message,
    public_labels,
)
from kallglot.realtime.runtime import CallRuntime, Connection

logger = logging.getLogger(__name__)

router = APIRouter()

# WebSocket close codes: 4401/4404 mirror HTTP; 1013 asks the client to try again later.
CLOSE_UNAUTHORIZED = 4401
CLOSE_TRY_AGAIN_LATER = 1013
OUTBOUND_QUEUE = 2000
OUTPUT_FORMATS = {"mulaw_8000": AudioEncoding.MULAW, "pcm_s16le_16000": AudioEncoding.PCM_S16LE}


@router.websocket("/v1/sessions/{session_id}/connect")
async def connect(
    websocket: WebSocket,
    session_id: str,
    token: Annotated[str, Query(max_length=200)] = "",
    party: Annotated[Party | None, Query()] = None,
    audio_format: Annotated[str, Query(pattern="^(mulaw_8000|pcm_s16le_16000)$")] = "mulaw_8000",
) -> None:
    hub: RealtimeHub = websocket.app.state.realtime
    await websocket.accept()
    try:
        call = await hub.authenticate(session_id, token)
        runtime, store = await hub.attach(call)
    except KallglotError as exc:
        await websocket.send_json(
            event("session.error", session_id, code=exc.code, message=exc.message)
        )
        code = CLOSE_TRY_AGAIN_LATER if exc.status_code == 503 else CLOSE_UNAUTHORIZED
        await websocket.close(code=code)
        return

    outbound: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(OUTBOUND_QUEUE)

    async def enqueue(message: dict[str, Any]) -> None:
        if outbound.full():
            raise ConnectionError("client is not reading")
        outbound.put_nowait(message)

    connection = Connection(enqueue, party, OUTPUT_FORMATS[audio_format])
    runtime.connections[connection.id] = connection
    writer = asyncio.create_task(_write(websocket, outbound))
    try:
        await enqueue(
            event(
                "session.ready",
                call.id,
                mode=call.mode,
                source_language=runtime.language_of(Party.CALLER),
                target_language=runtime.language_of(Party.AGENT),
                party=party.value if party else None,
                audio_format=audio_format,
            )
        )
        await _receive(websocket, hub, runtime, store.mark_active, enqueue)
    finally:
        if runtime.ended.is_set():
            # Closed after the client was told why (session.ended), not before.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(runtime.finished.wait(), timeout=10)
        runtime.connections.pop(connection.id, None)
        if not runtime.ended.is_set():
            await store.touch()
        await outbound.put(None)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(writer, timeout=5)
        writer.cancel()
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close()


async def _receive(
    websocket: WebSocket,
    hub: RealtimeHub,
    runtime: CallRuntime,
    mark_active: Any,
    reply: Any,
) -> None:
    ended = asyncio.create_task(runtime.ended.wait())
    try:
        while True:
            receiving = asyncio.create_task(websocket.receive())
            done, _ = await asyncio.wait({receiving, ended}, return_when=asyncio.FIRST_COMPLETED)
            if ended in done:
                receiving.cancel()
                return
            message = receiving.result()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None:
                await reply(
                    event(
                        "session.error",
                        runtime.id,
                        code="invalid_message",
                        message="Send JSON text frames; binary frames are not accepted.",
                    )
                )
                continue
            try:
                parsed = parse_client_message(raw)
                if isinstance(parsed, AudioInput):
                    runtime.accept_audio(decode_audio(parsed))
                    await mark_active()
                elif isinstance(parsed, Ping):
                    await reply(event("pong", runtime.id))
                elif isinstance(parsed, SessionUpdate):
                    await runtime.update_languages(parsed.source_language, parsed.target_language)
                elif isinstance(parsed, SessionEnd):
                    await hub.end(runtime.id, "explicit_end")
                    return
            except ProtocolError as exc:
                await reply(event("session.error", runtime.id, code=exc.code, message=exc.message))
            except KallglotError as exc:
                await reply(event("session.error", runtime.id, code=exc.code, message=exc.message))
    finally:
        ended.cancel()


async def _write(websocket: WebSocket, outbound: asyncio.Queue[dict[str, Any] | None]) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, ConnectionError):
        while (message := await outbound.get()) is not None:
            await websocket.send_json(public_labels(message))
