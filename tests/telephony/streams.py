"""Helpers of the carrier media-stream tests: how a stream closed, how its call settled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed

from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.models import CallSession
from tests.conftest import MigratedDatabase
from tests.realtime.conftest import LiveServer


async def drain(ws: Any) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), timeout=20)


async def closed_with(ws: Any) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        await drain(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def settled(server: LiveServer, session_id: str, database: MigratedDatabase) -> str:
    """The stored status once nothing of the call is live on the node any more (an ending
    call first finishes what was said, then is stored as ended)."""
    hub: RealtimeHub = server.app.state.realtime
    status = ""
    for _ in range(600):
        with database.sessions() as db:
            status = db.scalars(
                select(CallSession.status).where(CallSession.id == session_id)
            ).one()
        live = session_id in hub.runtimes
        if not live and status in ("created", "ended", "failed"):
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"the call is still {status}")
