"""In Chromium: the bare address leads to sign-in, ``/docs`` renders with nothing fetched
beyond the server, and an agent's console offers only what an agent can use."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Request, Route, expect

from kallglot.accounts.permissions import Role
from tests.conftest import sqlite_only
from tests.factories import Identity
from tests.realtime.conftest import LiveServer
from tests.web.browsing import sign_in

pytestmark = [pytest.mark.slow, sqlite_only]


def test_the_bare_address_leads_to_sign_in(page: Page, web_server: LiveServer) -> None:
    page.goto(web_server.base_url + "/")
    expect(page).to_have_url(web_server.base_url + "/app/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_api_docs_render_with_no_network_beyond_the_server(
    page: Page, web_server: LiveServer
) -> None:
    foreign: list[str] = []

    def only_this_server(route: Route, request: Request) -> None:
        if request.url.startswith(web_server.base_url + "/"):
            route.continue_()
        else:
            foreign.append(request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(web_server.base_url + "/docs")
    # Swagger UI parses 1.5 MB of script and the app builds its schema on first use: on a
    # loaded machine that takes a while.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Kallglot API", timeout=60_000)
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert foreign == []


def test_an_agent_sees_only_pages_they_can_use_and_numbers_to_dial_from(
    page: Page, web_server: LiveServer, identity: Identity
) -> None:
    org = identity.organization()
    admin = identity.client_as(Role.ADMIN, org)
    registered = admin.post(
        "/v1/phone-numbers",
        json={
            "e164": "+493055501234",
            "country": "DE",
            "number_type": "local",
            "carrier": "sip_trunk",
        },
    )
    assert registered.status_code == 201, registered.text
    sign_in(page, web_server, identity.user(org, Role.AGENT))
    expect(page.get_by_role("heading", name="Agent console")).to_be_visible()

    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation.get_by_role("link", name="Call history")).to_be_visible()
    expect(navigation.get_by_role("link", name="Analytics")).to_be_hidden()
    visible = [link for link in navigation.get_by_role("link").all() if link.is_visible()]
    names = [link.inner_text() for link in visible]
    assert names == ["Agent console", "Call history", "Account and sessions"], names

    page.get_by_text("Dial a phone number").click()
    caller_id = page.get_by_label("From number")
    expect(caller_id.locator("option")).to_have_text(["+493055501234"])
    page.get_by_text("Translated session (browser only)").click()
    expect(page.get_by_role("button", name="Start session")).to_be_enabled()

    for name in names:
        navigation.get_by_role("link", name=name).click()
        expect(page.get_by_role("heading", name=name)).to_be_visible()
        expect(page.locator("[data-no-access]")).to_have_count(0)

    # A page outside the role, reached by its address, says so instead of empty charts.
    page.goto(web_server.base_url + "/app/analytics")
    expect(page.locator("[data-no-access]")).to_contain_text("analytics:read")
    expect(page.locator("canvas")).to_have_count(0)
