"""Every page of the web app works under the strict CSP in Chromium: nothing it loads or runs
is blocked (no ``securitypolicyviolation`` event on any page)."""

from __future__ import annotations

from playwright.sync_api import Page

from kallglot.accounts.permissions import Role
from kallglot.web.pages import PAGES
from tests.conftest import sqlite_only
from tests.factories import Identity
from tests.realtime.conftest import LiveServer
from tests.web import conftest as web
from tests.web.browsing import sign_in

pytestmark = sqlite_only
# The web tests' live server and Chromium.
agent_microphone, browser, page = web.agent_microphone, web.browser, web.page
port, settings, web_server = web.port, web.settings, web.web_server

# Injected by the browser's devtools protocol, which the page's CSP does not govern.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def test_no_page_is_blocked_by_the_policy(
    identity: Identity, web_server: LiveServer, page: Page
) -> None:
    owner = identity.user(identity.organization(), Role.OWNER)
    page.add_init_script(RECORD_VIOLATIONS)
    sign_in(page, web_server, owner)
    page.wait_for_url("**/app/console")
    violations: dict[str, list[str]] = {}
    for slug in PAGES:
        page.goto(f"{web_server.base_url}/app/{slug}")
        page.wait_for_load_state("networkidle")
        violations[slug] = page.evaluate("window.__violations")
    assert violations == {slug: [] for slug in PAGES}
