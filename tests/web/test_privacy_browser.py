"""The privacy admin in Debian's Chromium: a retention period changed within its bounds,
a legal hold placed and released, and a data-subject access request taken from receipt
through verification and a progressing export to the downloaded ZIP. Refusals show the
API's error message."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, Response, expect

from kallglot.accounts.permissions import Role
from tests.conftest import sqlite_only
from tests.factories import Identity
from tests.realtime.conftest import LiveServer
from tests.web.browsing import sign_in
from tests.web.conftest import screenshot

pytestmark = [pytest.mark.slow, sqlite_only]


def test_compliance_officer_manages_retention_holds_and_a_subject_access_request(
    identity: Identity, web_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    organization = identity.organization()
    officer = identity.user(organization, Role.COMPLIANCE, name="Cora Compliance")
    subject = identity.user(organization, Role.AGENT, name="Sam Subject")
    policies = identity.login(officer).get("/v1/privacy/retention").json()
    bounded = next(p for p in policies if p["min_days"] is not None and p["max_days"])
    sign_in(page, web_server, officer)
    page.wait_for_url(re.compile(r"/app/(?!login)"))  # signed in before going on
    page.goto(f"{web_server.base_url}/app/privacy")
    flash = page.locator("[data-flash]")

    # --- retention: outside the class's bounds is refused with the API's words -----------
    retention = page.locator("form[data-api^='/v1/privacy/retention']")
    retention.get_by_label("Data").select_option(bounded["retention_class"])
    expect(page.locator("[data-retention-bounds]")).to_contain_text(
        f"Allowed: {bounded['min_days']} to {bounded['max_days']} days"
    )
    retention.get_by_label("Keep for (days)").fill(str(bounded["max_days"] + 1))
    retention.get_by_role("button", name="Save period").click()
    expect(flash).to_have_text(
        f"{bounded['retention_class']} retention must be between "
        f"{bounded['min_days']} and {bounded['max_days']} days"
    )
    expect(flash).to_have_class(re.compile("error"))
    retention.get_by_label("Keep for (days)").fill(str(bounded["min_days"]))
    retention.get_by_role("button", name="Save period").click()
    expect(flash).to_have_text("Retention period saved.")
    row = page.locator("#retention tr", has_text=bounded["retention_class"])
    expect(row.locator("td").nth(1)).to_have_text(str(bounded["min_days"]))
    expect(row.locator("td").nth(5)).to_have_text("yes")
    expect(page.locator("[data-retention-bounds]")).to_contain_text(f"Now {bounded['min_days']} ")

    # --- legal holds: a half-filled hold is refused; a whole one placed, then released ----
    hold = page.locator("form[data-api='/v1/privacy/legal-holds']")
    hold.get_by_label("Reason").fill("Case 2026-17, public prosecutor")
    hold.get_by_label("Covers").select_option("call")
    hold.get_by_role("button", name="Place hold").click()
    expect(flash).to_have_text("object_type and object_ref go together")
    hold.get_by_label("Covers").select_option("")
    hold.get_by_role("button", name="Place hold").click()
    expect(flash).to_have_text("Legal hold placed.")
    held = page.locator("#legal-holds tr", has_text="Case 2026-17")
    expect(held).to_be_visible()
    held.get_by_role("button", name=re.compile("^Release")).click()
    expect(page.locator("#legal-holds")).to_contain_text("No legal holds.")

    # --- a subject access request, from receipt to the downloaded export ----------------
    form = page.locator("form[data-new-request]")
    form.get_by_role("button", name="Record request").click()  # nobody named
    expect(flash).to_have_text("name the subject by exactly one of user_id, email, phone")
    form.get_by_label("Kind").select_option("access")
    form.get_by_label("Subject's email").fill(subject.email)
    form.get_by_role("button", name="Record request").click()
    expect(flash).to_have_text("Request recorded.")
    request = page.locator("#subject-requests tr[data-id]").first
    expect(request).to_have_attribute("data-status", "received")
    expect(request.locator("td").nth(3)).to_contain_text(re.compile(r"\(in (2[89]|3[01]) d\)"))

    request.get_by_role("button", name=re.compile("^Verify")).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("How was the subject's identity checked?").fill(
        "Called back on the number in the contract and confirmed the date of birth."
    )
    dialog.get_by_role("button", name="Record verification").click()
    expect(dialog).to_be_hidden()
    polls: list[Response] = []
    page.on(
        "response",
        lambda r: (
            polls.append(r)
            if r.request.method == "GET" and re.search(r"/v1/privacy/requests/[^/?]+$", r.url)
            else None
        ),
    )
    with page.expect_response(lambda r: r.url.endswith("/execute")) as started:
        request.get_by_role("button", name=re.compile("^Start export")).click()
    assert started.value.json()["status"] == "in_progress"  # the export runs in the background
    expect(request).to_have_attribute("data-status", "completed", timeout=30_000)
    # The bar followed the request until it was done: polled while it ran, or (on a fast
    # machine) the export had already finished when the list was reloaded after the start.
    if polls:
        last = polls[-1].json()
        assert (last["status"], last["progress"]) == ("completed", 100)
    expect(request.locator("progress")).to_have_attribute("value", "100")
    expect(request.locator("[data-percent]")).to_have_text(" 100 %")
    screenshot(page, "privacy-admin")

    with page.expect_download() as downloading:
        request.get_by_role("button", name=re.compile("^Download export")).click()
    archive = tmp_path / "export.zip"
    downloading.value.save_as(archive)
    with zipfile.ZipFile(archive) as exported:
        names = exported.namelist()
        assert "README.txt" in names or any(n.upper().startswith("README") for n in names)
        assert any(subject.email in exported.read(n).decode("utf-8", "replace") for n in names)
