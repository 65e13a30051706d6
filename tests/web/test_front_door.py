"""The bare address leads a browser to sign-in and says where the API is; ``/docs`` renders
from the server's own assets, with nothing fetched from a CDN."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import sqlite_only

pytestmark = sqlite_only


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


def test_the_bare_address_leads_to_sign_in_and_names_the_api_docs(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/login"
    assert 'href="/docs"' in response.text
    assert "/docs" in response.headers["link"]
    followed = client.get("/")
    assert followed.url.path == "/app/login"
    assert "<h1>Sign in</h1>" in followed.text


def test_api_docs_load_only_assets_of_this_server(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/static/vendor/swagger-ui-bundle.js" in sources
    assert all(source.startswith("/") for source in sources), sources
    assert "'/openapi.json'" in page.text or '"/openapi.json"' in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert client.get(f"/static/vendor/{asset}").status_code == 200


def test_pages_have_a_favicon(client: TestClient) -> None:
    page = client.get("/app/login")
    assert '<link rel="icon" href="/static/favicon.svg"' in page.text
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.text.startswith("<svg")
