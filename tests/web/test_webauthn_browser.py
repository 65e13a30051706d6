"""WebAuthn in Debian's Chromium with its virtual authenticator (CDP ``WebAuthn``): an agent
adds a security key on the account page through ``navigator.credentials.create``, signs
out, and signs in again with the key through ``navigator.credentials.get``.

WebAuthn does not accept an IP address as the relying party, so the app is reached (and
its public URL set) as ``localhost``."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect

from kallglot.accounts.permissions import Role
from kallglot.core.settings import Settings
from tests.conftest import sqlite_only
from tests.factories import Identity
from tests.realtime.conftest import LiveServer
from tests.web.conftest import screenshot

pytestmark = [pytest.mark.slow, sqlite_only]


@pytest.fixture
def settings(settings: Settings, port: int) -> Settings:
    return settings.model_copy(update={"public_base_url": f"http://localhost:{port}"})


def password_step(page: Page, base_url: str, email: str, password: str) -> None:
    page.goto(f"{base_url}/app/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_an_agent_adds_a_security_key_and_signs_in_with_it(
    identity: Identity, web_server: LiveServer, app: FastAPI, port: int, page: Page
) -> None:
    base_url = f"http://localhost:{port}"
    organization = identity.organization()
    agent = identity.user(organization, Role.AGENT, name="Kim Key")
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )["authenticatorId"]

    password_step(page, base_url, agent.email, agent.password)
    page.wait_for_url("**/app/console")
    page.goto(f"{base_url}/app/account")
    keys = page.locator("form[data-security-keys]")
    keys.get_by_label("Name of the key").fill("Desk key")
    with page.expect_response("**/v1/auth/mfa/webauthn/register") as registered:
        keys.get_by_role("button", name="Add a security key").click()
    assert registered.value.ok, registered.value.text()
    expect(page.locator("[data-flash]")).to_have_text('Security key "Desk key" added.')
    expect(page.locator("#security-keys")).to_contain_text("Desk key")
    expect(keys.locator("[data-recovery-codes]")).to_contain_text("Recovery codes (shown once)")
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(stored) == 1 and stored[0]["rpId"] == "localhost"
    screenshot(page, "account-security-key")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/app/login")
    password_step(page, base_url, agent.email, agent.password)
    key_button = page.get_by_role("button", name="Use my security key")
    expect(key_button).to_be_visible()
    expect(page.locator("[data-code-hint]")).to_have_text("Or enter one of your recovery codes.")
    with page.expect_response("**/v1/auth/mfa/verify") as verified:
        key_button.click()
    assert verified.value.ok, verified.value.text()
    page.wait_for_url("**/app/console")
    me = page.request.get(f"{base_url}/v1/auth/me").json()
    assert me["user"]["email"] == agent.email and me["user"]["mfa_enabled"] is True
    after = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert after[0]["signCount"] > stored[0]["signCount"]  # the key really signed the sign-in
