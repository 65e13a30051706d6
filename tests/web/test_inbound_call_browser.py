"""A routed inbound call end to end in Debian's Chromium: a caller rings the
organization's number through Twilio (the signed voice webhook, then a Media Stream
client on the WebSocket, as Twilio would connect), the call is offered to the available
agent, the console alerts with the caller's language, the agent answers and joins the
call's session from the answer, sees what the caller says and its translation, hangs up,
and finds the call in their history. Screenshot: test-artifacts/inbound-call-mid-call.png."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import xml.etree.ElementTree as ET
from contextlib import suppress
from urllib.parse import urlencode

import httpx
import pytest
import websockets
from playwright.sync_api import Page, expect
from twilio.request_validator import RequestValidator

from kallglot.accounts.permissions import Role
from kallglot.core.settings import Settings
from kallglot.telephony.routing.models import Agent
from tests.conftest import MigratedDatabase, sqlite_only
from tests.factories import Identity
from tests.realtime.conftest import LiveServer, mulaw_clip
from tests.telephony.twilio_helpers import start_event
from tests.telephony_numbers.helpers import make_number, make_queue
from tests.web.browsing import sign_in, words
from tests.web.conftest import screenshot

pytestmark = [pytest.mark.slow, sqlite_only]

NUMBER = "+493012345670"
CALLER = "+4915100000042"
MULAW_SILENCE = b"\xff" * 160


class TwilioCaller(threading.Thread):
    """Twilio's side of the call: the Media Stream to the URL of the TwiML, carrying the
    caller's line (silence while it rings, the clip once ``speak`` is set)."""

    def __init__(self, url: str, token: str, clip: bytes) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.clip = url, token, clip
        self.speak = threading.Event()
        self.hang_up = threading.Event()
        self.heard: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self.call())
        except websockets.ConnectionClosed:
            pass  # the agent hung up: the server ends the stream
        except BaseException as exc:
            self.error = exc

    async def call(self) -> None:
        async with websockets.connect(self.url) as ws:
            listening = asyncio.create_task(self.listen(ws))
            connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
            await ws.send(json.dumps(connected))
            await ws.send(start_event(self.token))
            loop = asyncio.get_running_loop()
            started, sent, spoken = loop.time(), 0, False
            # At most four minutes of line, whatever happens in the browser.
            while not self.hang_up.is_set() and sent < 12_000:
                if self.speak.is_set() and not spoken:
                    for offset in range(0, len(self.clip), 160):
                        await ws.send(self.media(self.clip[offset : offset + 160]))
                        sent += 1
                        await asyncio.sleep(max(0.0, started + sent * 0.02 - loop.time()))
                    spoken = True
                await ws.send(self.media(MULAW_SILENCE))
                sent += 1
                await asyncio.sleep(max(0.0, started + sent * 0.02 - loop.time()))
            await ws.send(json.dumps({"event": "stop", "streamSid": "MZ" + "0" * 32}))
            listening.cancel()

    @staticmethod
    def media(frame: bytes) -> str:
        payload = base64.b64encode(frame).decode()
        return json.dumps({"event": "media", "media": {"track": "inbound", "payload": payload}})

    async def listen(self, ws: websockets.ClientConnection) -> None:
        with suppress(websockets.ConnectionClosed):
            async for raw in ws:
                self.heard.append(json.loads(raw)["event"])


def ring(server: LiveServer, settings: Settings) -> tuple[str, str]:
    """Twilio's voice webhook for a call to our number: the stream URL and token it gets."""
    params = {
        "CallSid": "CA" + "4" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": CALLER,
        "To": NUMBER,
    }
    assert settings.twilio_auth_token is not None
    url = settings.public_base_url + "/v1/telephony/twilio/voice"
    signature = RequestValidator(settings.twilio_auth_token.get_secret_value()).compute_signature(
        url, params
    )
    response = httpx.post(
        url,
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    stream = ET.fromstring(response.text).find("./Connect/Stream")
    assert stream is not None, response.text
    token = stream.find("./Parameter[@name='token']")
    assert token is not None
    url = stream.get("url", "")
    assert url.startswith(server.ws_url) and "/v1/telephony/twilio/media/" in url
    return url, token.get("value", "")


def test_an_inbound_call_is_offered_answered_translated_and_kept_in_history(
    identity: Identity,
    web_server: LiveServer,
    page: Page,
    settings: Settings,
    database: MigratedDatabase,
) -> None:
    organization = identity.organization()
    agent = identity.user(organization, Role.AGENT, name="Ana Agent")
    admin = identity.client_as(Role.ADMIN, organization)
    created = admin.post(
        "/v1/routing/agents",
        json={"user_id": agent.id, "display_name": "Ana Agent", "languages": ["en"]},
    )
    assert created.status_code == 201, created.text
    with database.sessions.begin() as db:
        routed_agent = db.get_one(Agent, created.json()["id"])
        number = make_number(db, organization, make_queue(db, organization, [routed_agent]), NUMBER)
        number.languages = ["es"]  # callers of this number speak Spanish

    sign_in(page, web_server, agent)
    page.wait_for_url("**/app/console")
    expect(page.locator("[data-console][data-ready=true]")).to_be_attached()
    with page.expect_response("**/v1/routing/me/presence") as presence:
        page.get_by_label("I am").select_option("available")
    assert presence.value.ok

    clip, reference = mulaw_clip("es", 3)
    stream_url, token = ring(web_server, settings)
    caller = TwilioCaller(stream_url, token, clip)
    caller.start()
    try:
        alert = page.locator("[data-incoming]")
        expect(alert).to_be_visible(timeout=20_000)
        expect(alert).to_contain_text(CALLER)
        expect(page.locator("[data-incoming-language]")).to_have_text("es")
        with page.expect_response("**/answer") as answered:
            alert.get_by_role("button", name="Answer").click()
        answer = answered.value.json()
        assert answer["stream"]["url"].endswith(f"/v1/sessions/{answer['session_id']}/connect")
        expect(page.locator("[data-console][data-connected=true]")).to_be_attached()
        expect(
            page.locator(f"[data-console][data-session-id='{answer['session_id']}']")
        ).to_be_attached()
        caller.speak.set()

        finals = page.locator("[data-transcript] tr.final.speaker-customer")
        expect(finals.first).to_be_visible(timeout=60_000)
        # A loaded machine may cut the clip into more than one utterance: all of them count.
        original, translation = "", ""
        for _ in range(120):
            original = " ".join(finals.locator("td:nth-child(3)").all_inner_texts())
            translation = " ".join(finals.locator("td:nth-child(4)").all_inner_texts())
            if len(words(original) & words(reference)) >= len(words(reference)) // 2:
                break
            page.wait_for_timeout(500)
        assert len(words(original) & words(reference)) >= len(words(reference)) // 2, original
        assert translation.strip("—… ") and words(translation) != words(original)
        expect(finals.first.locator("td").nth(3)).to_have_attribute("lang", "en")
        screenshot(page, "inbound-call-mid-call")

        page.get_by_role("button", name="Hang up").click()
        expect(page.locator("[data-call-status]")).to_contain_text("ended")
    finally:
        caller.hang_up.set()
        caller.join(timeout=30)
    assert caller.error is None, caller.error

    page.get_by_role("link", name="Call history").click()
    row = page.locator("#calls tr", has_text=CALLER)
    expect(row).to_be_visible()
    expect(row).to_contain_text("inbound")
    expect(row).to_contain_text("completed")
    expect(row.locator("td").nth(4)).to_have_text("es")
