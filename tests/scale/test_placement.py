"""In multi-node mode a new session's stream goes to a media node with room, or is refused."""

from __future__ import annotations

import httpx
import redis.asyncio as redis
from fastapi import FastAPI

from kallglot.accounts.permissions import Permission
from kallglot.scale.nodes import NodeRegistry
from tests.factories import Identity

CREATE = {"mode": "transcription", "source_language": "es"}


async def test_sessions_are_placed_on_a_node_with_room_and_refused_when_all_are_full(
    app: FastAPI, identity: Identity, shared_redis: redis.Redis, prefix: str
) -> None:
    registry = NodeRegistry(shared_redis, prefix, ttl_seconds=30)
    await registry.heartbeat("media-1", "http://media-1.internal:8000", capacity=1, calls=[])
    app.state.node_registry = registry  # as scale.failover.running sets it
    key = identity.api_key(
        identity.organization(), [Permission.SESSIONS_WRITE, Permission.SESSIONS_READ]
    )
    # In process on this event loop, without the lifespan: the API node here runs no models.
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key.secret}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers=headers
    ) as api:
        first = await api.post("/v1/sessions", json=CREATE)
        assert first.status_code == 201, first.text
        url = first.json()["stream"]["url"]
        assert url.startswith("ws://media-1.internal:8000/v1/sessions/")

        full = await api.post("/v1/sessions", json=CREATE)
        assert full.status_code == 503
        assert full.json()["error"]["code"] == "no_capacity"
