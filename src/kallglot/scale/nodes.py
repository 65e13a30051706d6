"""The media-node registry in Redis: capacity, heartbeats, placement and reaping.

Keys (under the prefix):
- ``nodes``: the set of registered node ids;
- ``node:<id>``: a hash ``url``, ``capacity``, ``load``; it expires unless heartbeats renew it;
- ``node:<id>:calls``: the ids of the calls the node owns, replaced on every heartbeat.

A node whose hash has expired but is still in ``nodes`` is dead; the first reaper
to notice removes it and takes its call list, atomically, so calls are failed once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import redis.asyncio as redis

from kallglot.core.errors import ServiceUnavailableError

# Picks the live node with the most room and counts the call against it until the
# next heartbeat reports the node's real load. Ties go to the lowest id.
_PLACE = """
local best, best_room = nil, 0
local ids = redis.call('SMEMBERS', KEYS[1])
table.sort(ids)
for _, id in ipairs(ids) do
  local info = redis.call('HMGET', ARGV[1] .. 'node:' .. id, 'capacity', 'load')
  if info[1] then
    local room = tonumber(info[1]) - tonumber(info[2] or '0')
    if room > best_room then best, best_room = id, room end
  end
end
if best then redis.call('HINCRBY', ARGV[1] .. 'node:' .. best, 'load', 1) end
return best
"""

# Removes one dead node and returns the calls it owned (empty if it is alive or gone).
_REAP = """
if redis.call('EXISTS', KEYS[2]) == 1 then return {} end
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return {} end
local calls = redis.call('SMEMBERS', KEYS[3])
redis.call('DEL', KEYS[3])
return calls
"""


@dataclass(frozen=True)
class Node:
    id: str
    url: str
    capacity: int
    load: int

    @property
    def room(self) -> int:
        return max(self.capacity - self.load, 0)


class NodeRegistry:
    def __init__(self, client: redis.Redis, prefix: str, ttl_seconds: float) -> None:
        """``client`` must decode responses (see :func:`kallglot.scale.bus.redis_client`)."""
        self.client = client
        self.prefix = prefix
        self.ttl_ms = int(ttl_seconds * 1000)
        self._place = client.register_script(_PLACE)
        self._reap = client.register_script(_REAP)

    def _nodes_key(self) -> str:
        return f"{self.prefix}nodes"

    def _node_key(self, node_id: str) -> str:
        return f"{self.prefix}node:{node_id}"

    def _calls_key(self, node_id: str) -> str:
        return f"{self.prefix}node:{node_id}:calls"

    async def heartbeat(self, node_id: str, url: str, capacity: int, calls: Iterable[str]) -> None:
        """Register or renew the node with its current calls; it lives ``ttl`` from now."""
        owned = list(calls)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.sadd(self._nodes_key(), node_id)
            pipe.hset(
                self._node_key(node_id),
                mapping={"url": url, "capacity": capacity, "load": len(owned)},
            )
            pipe.pexpire(self._node_key(node_id), self.ttl_ms)
            pipe.delete(self._calls_key(node_id))
            if owned:
                pipe.sadd(self._calls_key(node_id), *owned)
            await pipe.execute()

    async def calls_of(self, node_id: str) -> list[str]:
        """The calls ``node_id`` last reported (before a crash, when read at its start)."""
        return sorted(_text(call) for call in await self.client.smembers(self._calls_key(node_id)))

    async def leave(self, node_id: str) -> None:
        """A clean shutdown: the node's calls have ended, so nothing is left to reap."""
        await self.client.delete(self._node_key(node_id), self._calls_key(node_id))
        await self.client.srem(self._nodes_key(), node_id)

    async def _node_ids(self) -> list[str]:
        return sorted(_text(member) for member in await self.client.smembers(self._nodes_key()))

    async def nodes(self) -> list[Node]:
        """The live nodes, by id."""
        found = []
        for node_id in await self._node_ids():
            info = {
                _text(k): _text(v)
                for k, v in (await self.client.hgetall(self._node_key(node_id))).items()
            }
            if info:
                found.append(
                    Node(
                        node_id,
                        info["url"],
                        int(info["capacity"]),
                        int(info.get("load", "0")),
                    )
                )
        return found

    async def place(self) -> Node | None:
        """Reserve room for a new call on the live node with the most room, if any has room."""
        chosen = await self._place(keys=[self._nodes_key()], args=[self.prefix])
        if chosen is None:
            return None
        return next((node for node in await self.nodes() if node.id == _text(chosen)), None)

    async def place_url(self) -> str:
        """The base URL of the node that takes a new call; 503 ``no_capacity`` when none can."""
        node = await self.place()
        if node is None:
            raise ServiceUnavailableError("No media node has room for a call.", code="no_capacity")
        return node.url

    async def reap(self) -> dict[str, list[str]]:
        """Remove every dead node; returns each one's orphaned call ids."""
        orphans: dict[str, list[str]] = {}
        for node_id in await self._node_ids():
            keys = [self._nodes_key(), self._node_key(node_id), self._calls_key(node_id)]
            calls = await self._reap(keys=keys, args=[node_id])
            if calls:
                orphans[node_id] = sorted(_text(call) for call in calls)
        return orphans


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
