"""End to end in Debian's Chromium: the agent console during a real translated call, and
the admin pages. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from kallglot.accounts.permissions import Role
from tests.conftest import sqlite_only
from tests.factories import Identity
from tests.realtime.conftest import LiveServer, mulaw_clip
from tests.web.browsing import Caller, posted, sign_in, words
from tests.web.conftest import screenshot

pytestmark = [pytest.mark.slow, sqlite_only]


def test_agent_signs_in_with_mfa_and_follows_a_translated_call(
    identity: Identity, web_server: LiveServer, page: Page
) -> None:
    organization = identity.organization()
    agent = identity.user(organization, Role.AGENT, mfa=True, name="Ana Agent")
    admin = identity.client_as(Role.ADMIN, organization)
    created = admin.post(
        "/v1/routing/agents",
        json={"user_id": agent.id, "display_name": "Ana Agent", "languages": ["en"]},
    )
    assert created.status_code == 201, created.text

    sign_in(page, web_server, agent)
    page.wait_for_url("**/app/console")
    # An agent's navigation leaves out what their role cannot use.
    expect(page.get_by_role("link", name="Audit log")).to_be_hidden()
    expect(page.get_by_role("heading", name="Administration")).to_be_hidden()
    expect(page.get_by_role("link", name="Call history")).to_be_visible()
    with page.expect_response("**/v1/routing/me/presence") as presence:
        page.get_by_label("I am").select_option("available")
    assert presence.value.ok

    page.get_by_text("Translated session (browser only)").click()
    page.get_by_label("Caller's language").select_option("es")
    page.get_by_label("My language").select_option("en")
    with page.expect_response(posted("/v1/sessions")) as started:
        page.get_by_role("button", name="Start session").click()
    session = started.value.json()
    expect(page.locator("[data-console][data-connected=true]")).to_be_attached()

    clip, reference = mulaw_clip("es", 3)
    caller = Caller(session["stream"]["url"], session["stream"]["token"], clip)
    caller.start()

    final = page.locator("[data-transcript] tr.final.speaker-customer").first
    expect(final).to_be_visible(timeout=45_000)
    original = final.locator("td").nth(2).inner_text()
    translation = final.locator("td").nth(3).inner_text()
    assert len(words(original) & words(reference)) >= len(words(reference)) // 2, original
    assert translation not in ("", "—", "…") and words(translation) != words(original)
    latency = page.locator("[data-latency]")
    expect(latency).to_have_attribute("data-level", re.compile("good|fair|poor"), timeout=30_000)
    expect(latency).to_contain_text(re.compile(r"Latency \d+\.\d s"))
    screenshot(page, "console-mid-call")

    # The agent's (fake) microphone reached the caller, recognised and translated.
    assert caller.agent_translated.wait(timeout=60), [e["type"] for e in caller.heard.events]
    agent_final = caller.heard.of("transcript.final", speaker="agent")[0]
    assert agent_final["translation"]["language"] == "es"
    expect(page.locator("[data-transcript] tr.final.speaker-agent").first).to_be_visible()

    page.get_by_role("button", name="Hang up").click()
    expect(page.locator("[data-call-status]")).to_contain_text("ended")
    caller.join(timeout=10)

    # The call's latency is in the organization's analytics, which an agent may not open.
    analytics = admin.get("/v1/analytics/latency").json()
    assert analytics["utterances"] >= 1 and analytics["p95_ms"] is not None, analytics
    page.goto(f"{web_server.base_url}/app/analytics")
    expect(page.get_by_role("alert")).to_contain_text("analytics:read")

    # The owner's analytics page is drawn from the organization's data, this call included.
    owner = identity.user(organization, Role.OWNER, name="Olga Owner")
    page.context.clear_cookies()
    sign_in(page, web_server, owner)
    page.wait_for_url("**/app/console")
    with page.expect_response(lambda r: "/v1/analytics/latency" in r.url) as latency_data:
        page.goto(f"{web_server.base_url}/app/analytics")
    assert latency_data.value.json()["utterances"] >= 1
    expect(page.locator("[data-analytics][data-ready=true]")).to_be_attached()
    screenshot(page, "analytics")


def test_admin_orders_a_number_that_needs_verification_and_sees_analytics(
    identity: Identity, web_server: LiveServer, page: Page
) -> None:
    organization = identity.organization()
    owner = identity.user(organization, Role.OWNER, name="Olga Owner")
    sign_in(page, web_server, owner)
    page.wait_for_url("**/app/console")

    page.get_by_role("link", name="Numbers and verification").click()
    expect(page).to_have_url(f"{web_server.base_url}/app/numbers")
    with page.expect_response(posted("/v1/kyc/bundles")) as created:
        page.locator("#kyc-country").fill("DE")
        page.get_by_label("Company name").fill("Beispiel GmbH")
        page.locator("#kyc-carrier").select_option("twilio")
        page.get_by_role("button", name="Create bundle").click()
    bundle = created.value.json()
    row = page.locator(f"#bundles tr[data-id='{bundle['id']}']")
    expect(row).to_contain_text("draft")
    expect(row).to_contain_text("business_registration")

    # Ordering with a bundle that is not approved is refused; the envelope's message shows.
    page.locator("#order-e164").fill("+4930123456")
    page.locator("#order-carrier").select_option("twilio")
    page.locator("#order-bundle_id").select_option(bundle["id"])
    page.get_by_role("button", name="Order").click()
    expect(page.locator("[data-flash].error")).to_contain_text("approved")

    # A draft cannot be submitted while documents are missing.
    row.get_by_role("button", name="Submit").click()
    expect(page.locator("[data-flash].error")).to_contain_text("incomplete")
    screenshot(page, "admin-numbers")

    page.get_by_role("link", name="Members and invitations").click()
    page.locator("#invite-email").fill("new.agent@example.com")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator("#invitations")).to_contain_text("new.agent@example.com")

    page.get_by_role("link", name="Billing").click()
    expect(page.locator("dl[data-facts]")).to_contain_text("Credit (seconds)")
    expect(page.locator("[data-unavailable]")).to_have_count(0)

    # (An organization without calls: the charts are empty; the agent test shows them drawn.)
    page.get_by_role("link", name="Analytics").click()
    expect(page.locator("[data-analytics][data-ready=true]")).to_be_attached()
