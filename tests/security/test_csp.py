"""A strict Content-Security-Policy (issue 20, finding 11): scripts, styles and connections
only from our own origin, nothing inline, on every response; the pages need nothing else."""

from __future__ import annotations

from html.parser import HTMLParser

from fastapi import FastAPI
from fastapi.testclient import TestClient

from kallglot.web.pages import PAGES
from tests.conftest import sqlite_only

pytestmark = sqlite_only


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {words[0]: words[1:] for words in parts}


class _Inline(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, handlers and style attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _value in attrs}
        if tag == "script":
            self._in_script = "src" not in names
        if tag == "style":
            self.found.append("<style>")
        self.found += [
            f"{tag}[{name}]" for name in names if name.startswith("on") or name == "style"
        ]

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append(f"inline script {data.strip()[:40]!r}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


def test_every_response_has_a_strict_policy(app: FastAPI) -> None:
    client = TestClient(app)
    for path in ("/healthz", "/v1/no-such-route", "/app/login", "/openapi.json", "/docs"):
        directives = _directives(client.get(path).headers["content-security-policy"])
        assert directives["default-src"] == ["'self'"], path
        assert directives["script-src"] == ["'self'"], path
        assert directives["style-src"] == ["'self'"], path
        assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == [
            "'none'"
        ]


def test_no_page_carries_inline_script_or_style(app: FastAPI) -> None:
    client = TestClient(app)
    for slug in PAGES:
        parser = _Inline()
        parser.feed(client.get(f"/app/{slug}").text)
        assert parser.found == [], slug


def test_api_reference_loads_swagger_from_this_server_and_starts_it_from_a_file(
    app: FastAPI,
) -> None:
    client = TestClient(app)
    docs = client.get("/docs")
    assert docs.status_code == 200
    parser = _Inline()
    parser.feed(docs.text)
    assert parser.found == []
    directives = _directives(docs.headers["content-security-policy"])
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "/static/js/api-docs.js" in docs.text
    assert client.get("/static/js/api-docs.js").status_code == 200
