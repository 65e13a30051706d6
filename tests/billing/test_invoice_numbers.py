"""Invoice numbers stay gap-free and unique when several invoices are issued at the same
moment, each in its own transaction (PostgreSQL: real concurrent transactions)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from kallglot.accounts.permissions import Role
from kallglot.billing.invoices import issue_invoice
from kallglot.core.clock import utcnow
from kallglot.core.settings import Settings
from kallglot.db.engine import transaction
from tests.billing.conftest import PROFILE, SignIn
from tests.conftest import MigratedDatabase
from tests.factories import Identity

ISSUERS = 6


@pytest.mark.parametrize("year_started", [True, False], ids=["year-started", "first-of-year"])
def test_concurrent_issues_get_consecutive_numbers(
    identity: Identity,
    signed_in: SignIn,
    database: MigratedDatabase,
    settings: Settings,
    year_started: bool,
) -> None:
    if database.backend != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs concurrent transactions")
    organization = identity.organization()
    client = signed_in(Role.BILLING, organization)
    assert client.put("/v1/billing/profile", json=PROFILE).status_code == 200
    start, end = utcnow() - timedelta(days=1), utcnow() + timedelta(minutes=1)
    if year_started:
        with transaction(database.sessions) as db:
            issue_invoice(db, settings, organization.id, start, end)
    together = threading.Barrier(ISSUERS)
    numbers: list[str] = []
    errors: list[BaseException] = []

    def issue() -> None:
        try:
            together.wait(timeout=60)  # all issue at once
            with transaction(database.sessions) as db:
                numbers.append(issue_invoice(db, settings, organization.id, start, end).number)
        except BaseException as error:  # reported below, with every other issuer's outcome
            errors.append(error)

    issuers = [threading.Thread(target=issue) for _ in range(ISSUERS)]
    for issuer in issuers:
        issuer.start()
    for issuer in issuers:
        issuer.join(timeout=120)
    assert not errors, errors
    first = 2 if year_started else 1
    year = utcnow().year
    assert sorted(numbers) == [f"KG-{year}-{n:06d}" for n in range(first, first + ISSUERS)]
