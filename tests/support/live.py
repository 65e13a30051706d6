"""The app served by uvicorn on loopback, in a thread: the one live-server fixture."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from tests.support.waiting import wait_until


@dataclass
class LiveServer:
    base_url: str
    app: FastAPI

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(app: FastAPI, port: int | None = None) -> Iterator[LiveServer]:
    """``app`` served on ``port`` (a free one if not given) until the block ends."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, ws="websockets-sansio")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, "the server started")
        yield LiveServer(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
