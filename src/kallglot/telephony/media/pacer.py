"""Outbound pacing: 20 ms frames leave at real time, so a carrier never receives a burst."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

FRAME_S = 0.02

Send = Callable[[bytes], Awaitable[None]]


class Pacer:
    """Sends queued frames one every 20 ms on an absolute schedule (no drift).

    After a gap (nothing queued) the schedule restarts, so a new utterance is not
    sent in a catch-up burst. ``clear()`` drops whatever is still queued (barge-in).
    """

    def __init__(self, send: Send, frame_s: float = FRAME_S) -> None:
        self._send = send
        self._frame_s = frame_s
        self._frames: deque[bytes | Callable[[], Awaitable[None]]] = deque()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        # Called on every tick with nothing queued, when set: a stream that must never
        # fall silent on the wire (RTP: NAT bindings, the far end's media timeout).
        self.idle: Callable[[], Awaitable[None]] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pacer")

    def push(self, frame: bytes) -> None:
        self._frames.append(frame)
        self._ready.set()

    def after_queued(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run ``action`` once every frame queued so far has been sent (e.g. a mark)."""
        self._frames.append(action)
        self._ready.set()

    def clear(self) -> int:
        """Drop queued frames (not queued actions' order); returns how many were dropped."""
        dropped = sum(1 for item in self._frames if isinstance(item, bytes))
        self._frames = deque(item for item in self._frames if not isinstance(item, bytes))
        return dropped

    @property
    def queued(self) -> int:
        return sum(1 for item in self._frames if isinstance(item, bytes))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            if not self._frames and self.idle is None:
                self._ready.clear()
                await self._ready.wait()
                deadline = None
            item = self._frames.popleft() if self._frames else None
            if item is not None and not isinstance(item, bytes):
                await item()
                continue
            now = loop.time()
            if deadline is None or deadline < now - self._frame_s:
                deadline = now
            await asyncio.sleep(max(0.0, deadline - now))
            if item is not None:
                await self._send(item)
                self.sent += 1
            elif self.idle is not None:
                await self.idle()
            deadline += self._frame_s

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
