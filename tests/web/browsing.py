"""What the browser tests share: signing in through the page, and a caller's leg over the
session WebSocket."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import websockets
from playwright.sync_api import Page, Response

from tests.factories import Member
from tests.realtime.conftest import Collected, LiveServer, send_mulaw


def sign_in(page: Page, server: LiveServer, member: Member) -> None:
    page.goto(f"{server.base_url}/app/login")
    page.get_by_label("Email").fill(member.email)
    page.get_by_label("Password").fill(member.password)
    page.get_by_role("button", name="Sign in").click()
    if member.totp_secret:
        page.get_by_label("Authentication code").fill(member.totp_code())
        page.get_by_role("button", name="Verify").click()


def posted(path: str) -> Callable[[Response], bool]:
    return lambda response: response.request.method == "POST" and response.url.endswith(path)


def words(text: str) -> set[str]:
    return {w.strip("¿?¡!.,").lower() for w in text.split()} - {""}


class Caller(threading.Thread):
    """The caller's leg over the session WebSocket: speaks a FLEURS clip, then listens."""

    def __init__(self, url: str, token: str, clip: bytes) -> None:
        super().__init__(daemon=True)
        self.url = f"{url}?token={token}&party=caller"
        self.clip = clip
        self.heard = Collected()
        self.agent_translated = threading.Event()

    def run(self) -> None:
        # The server ends the stream when the test is over, whatever state the call is in.
        with suppress(websockets.ConnectionClosed):
            asyncio.run(self.call())

    async def call(self) -> None:
        async with websockets.connect(self.url) as ws:
            listening = asyncio.create_task(self.listen(ws))
            await send_mulaw(ws, "caller", self.clip)
            await asyncio.wait_for(asyncio.shield(listening), timeout=60)

    async def listen(self, ws: Any) -> None:
        async for raw in ws:
            event = json.loads(raw)
            self.heard.events.append(event)
            if self.heard.of("transcript.final", speaker="agent") and self.heard.of(
                "audio.output", listener="customer"
            ):
                self.agent_translated.set()
                return
