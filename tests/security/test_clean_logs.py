"""Logs hold no credentials and no personal data (issue 20, finding 8).

A call session is created, its stream is opened with ``?token=`` on a live uvicorn server
configured as ``kallglot serve`` configures it, and a personal-data export is downloaded by
its link; the captured log lines then contain no token, email address, phone number or full
IP address. Forwarded headers are believed only from ``KALLGLOT_TRUSTED_PROXIES``.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.sync.client import connect

from kallglot.accounts.permissions import Role
from kallglot.api.app import create_app
from kallglot.api.server import server_config
from kallglot.core.logging import configure_logging
from kallglot.core.settings import Settings
from tests.conftest import sqlite_only
from tests.factories import Identity
from tests.web.conftest import port as port

pytestmark = sqlite_only

PHONE = "+49 30 901820"
SPOOFED = "198.51.100.77"


@contextmanager
def served(app: FastAPI, port: int) -> Iterator[str]:
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, ws="websockets-sansio"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _lines(captured: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in captured.getvalue().splitlines() if line.strip()]


def _session_and_stream(base_url: str, key: str) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {key}", "X-Forwarded-For": SPOOFED}
    with httpx.Client(base_url=base_url, headers=headers) as http:
        created = http.post(
            "/v1/sessions",
            json={
                "mode": "transcription",
                "source_language": "de",
                "metadata": {"caller": PHONE},
            },
        )
        assert created.status_code == 201, created.text
        stream = created.json()["stream"]
    # The URL names the configured public address; this server listens on a free port.
    parts = urlsplit(stream["url"])
    url = f"{base_url.replace('http://', 'ws://')}{parts.path}?token={stream['token']}"
    with connect(url, open_timeout=30) as ws:
        ws.close()
    return created.json()["id"], stream["token"]


def _export_link(identity: Identity) -> str:
    org = identity.organization()
    owner = identity.client_as(Role.OWNER, org)
    agent = identity.user(org, Role.AGENT, email="ida.marker@example.org")
    client = identity.login(agent)
    request = client.post(
        "/v1/privacy/my-requests", json={"type": "access", "password": agent.password}
    ).json()
    assert owner.post(f"/v1/privacy/requests/{request['id']}/execute", json={}).status_code == 200
    deadline = time.monotonic() + 30
    while owner.get(f"/v1/privacy/requests/{request['id']}").json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    link = owner.post(f"/v1/privacy/requests/{request['id']}/download-link").json()["url"]
    path = str(link).removeprefix(identity.settings.public_base_url)
    assert identity.client().get(path).status_code == 200
    return path.rsplit("/", 1)[1]


def test_logs_of_a_call_and_an_export_hold_no_tokens_or_personal_data(
    app: FastAPI, identity: Identity, port: int
) -> None:
    captured = io.StringIO()
    configure_logging("INFO", json_output=True, stream=captured)
    key = identity.api_key(identity.organization())
    with served(app, port) as base_url:
        session_id, stream_token = _session_and_stream(base_url, key.secret)
        export_token = _export_link(identity)

    text = captured.getvalue()
    for secret in (stream_token, export_token, key.secret, PHONE, "ida.marker@example.org"):
        assert secret not in text, secret
    assert not re.search(r"\b127\.0\.0\.1\b|\b198\.51\.100\.77\b|::1\b", text)
    access = [line for line in _lines(captured) if line.get("logger") == "kallglot.access"]
    routes = {(line["method"], line["route"], line["status"]) for line in access}
    assert ("POST", "/v1/sessions", 201) in routes
    assert ("WEBSOCKET", "/v1/sessions/{session_id}/connect", 101) in routes
    assert ("GET", "/v1/privacy/exports/{token}", 200) in routes
    # A spoofed X-Forwarded-For from an untrusted peer is ignored.
    assert {line["client_network"] for line in access if line["route"] == "/v1/sessions"} == {
        "127.0.0.0/24"
    }
    assert session_id


@pytest.fixture
def proxied_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"trusted_proxies": ["127.0.0.1/32"]})


def test_forwarded_for_is_believed_from_a_configured_proxy(
    proxied_settings: Settings, identity: Identity, port: int
) -> None:
    proxied = create_app(proxied_settings)
    captured = io.StringIO()
    configure_logging("INFO", json_output=True, stream=captured)
    with served(proxied, port) as base_url:
        response = httpx.get(f"{base_url}/healthz", headers={"X-Forwarded-For": SPOOFED})
        assert response.status_code == 200
    proxied.state.engine.dispose()
    health = [line for line in _lines(captured) if line.get("route") == "/healthz"]
    assert [line["client_network"] for line in health] == ["198.51.100.0/24"]
