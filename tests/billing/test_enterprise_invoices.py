"""Enterprise invoices: validated VAT id and IBAN, gap-free numbers, reverse charge, the PDF."""

from __future__ import annotations

import subprocess
from datetime import timedelta

from kallglot.accounts.permissions import Role
from kallglot.billing import metering
from kallglot.core.clock import utcnow
from kallglot.db.engine import transaction
from tests.billing.conftest import PROFILE, SignIn, ended_session
from tests.conftest import MigratedDatabase
from tests.factories import Identity


def test_invalid_iban_and_vat_id_are_refused(identity: Identity, signed_in: SignIn) -> None:
    client = signed_in(Role.BILLING, identity.organization())
    for field, value, code in (
        ("iban", "FR14 2004 1010 0505 0001 3M02 607", "invalid_iban"),
        ("vat_id", "FR40303265046", "invalid_vat_id"),
        ("vat_id", "DE136695976", "invalid_vat_id"),  # valid, but not the address's country
        ("bic", "PSST", "invalid_bic"),
    ):
        response = client.put("/v1/billing/profile", json={**PROFILE, field: value})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["param"] == field
    assert client.get("/v1/billing").json()["company_name"] is None


def test_contract_invoice_renders_with_reverse_charge(
    identity: Identity, signed_in: SignIn, database: MigratedDatabase
) -> None:
    org = identity.organization()
    client = signed_in(Role.BILLING, org)
    stored = client.put("/v1/billing/profile", json=PROFILE)
    assert stored.status_code == 200, stored.text
    assert stored.json()["iban_last4"] == "2606"
    ended_session(database, org.id, 179.5)  # 3 minutes
    ended_session(database, org.id, 59.5)  # 1 minute
    with transaction(database.sessions) as db:
        metering.meter_ended_sessions(db)
    period = {
        "period_start": (utcnow() - timedelta(days=1)).isoformat(),
        "period_end": (utcnow() + timedelta(minutes=1)).isoformat(),
    }

    first = client.post("/v1/billing/invoices", json=period)
    second = client.post("/v1/billing/invoices", json=period)
    assert first.status_code == second.status_code == 201, first.text
    year = utcnow().year
    assert [first.json()["number"], second.json()["number"]] == [
        f"KG-{year}-000001",
        f"KG-{year}-000002",
    ]
    invoice = first.json()
    assert invoice["vat_treatment"] == "reverse_charge"
    assert invoice["net_cents"] == 4 * 9 and invoice["vat_cents"] == 0
    assert invoice["total_cents"] == 36

    pdf = client.get(f"/v1/billing/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf.content, capture_output=True, check=True
    ).stdout.decode()
    for expected in (
        f"Invoice KG-{year}-000001",
        "Société Générale d'Interprétation",
        "FR40303265045",
        "PO-2026-0042",
        "Reverse charge",
        "DE89 3704 0044 0532 0130 00",
        "0.36 EUR",
    ):
        assert expected in text, expected

    other = signed_in(Role.BILLING, identity.organization("Other"))
    assert other.get(f"/v1/billing/invoices/{invoice['id']}/pdf").status_code == 404
    agent = signed_in(Role.AGENT, org)
    assert agent.post("/v1/billing/invoices", json=period).status_code == 403
