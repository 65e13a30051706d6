"""Redis for the scale tests: the shared server under a key prefix of our own, or a
private ``redis-server`` on a free port for tests that stop and restart it; and a
TCP proxy that cuts the database off for outage tests."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import subprocess
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as redis

from kallglot.scale.bus import redis_client
from tests.realtime.conftest import live_server, organization_id
from tests.support.waiting import wait_until

__all__ = ["live_server", "organization_id"]  # fixtures shared with the realtime tests

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def prefix() -> str:
    return f"kgtest:{secrets.token_hex(4)}:"


@pytest.fixture
async def shared_redis(prefix: str) -> AsyncIterator[redis.Redis]:
    """A client of the shared Redis; deletes only this test's keys afterwards."""
    client = redis_client(SHARED_REDIS_URL)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@dataclass
class PrivateRedis:
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        assert server is not None, "redis-server is not installed"
        arguments = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.process = subprocess.Popen(
            [server, *arguments, "--appendonly", "no"], stdout=subprocess.DEVNULL
        )
        wait_until(self._accepting, "redis-server started")

    def _accepting(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server of this test's own, which the test may stop and start."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = PrivateRedis(port)
    server.start()
    yield server
    server.stop()


class CuttableProxy:
    """A TCP proxy on a free loopback port, in a thread of its own, that a test can cut
    (every connection dropped, new ones refused) and restore: a real network outage
    between the app and its database, without touching the database server."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def start(self) -> None:
        self.thread.start()
        self.restore()

    def restore(self) -> None:
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._cut())

    def stop(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _relay(
        self, from_client: asyncio.StreamReader, to_client: asyncio.StreamWriter
    ) -> None:
        try:
            from_server, to_server = await asyncio.open_connection(*self.target)
        except OSError:
            to_client.transport.abort()
            return
        self.writers.update({to_client, to_server})

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(from_client, to_server), pipe(from_server, to_client))
        self.writers.difference_update({to_client, to_server})
