"""Billing records are bookkeeping: kept ten years, then purged unless held."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from kallglot.accounts.permissions import Role
from kallglot.billing import metering
from kallglot.billing.models import Invoice, UsageRecord
from kallglot.billing.retention import BOOKKEEPING_DAYS
from kallglot.core.clock import utcnow
from kallglot.db.engine import transaction
from kallglot.privacy.purgers import load_purgers
from kallglot.privacy.retention import place_legal_hold, run_purge
from tests.billing.conftest import PROFILE, SignIn, ended_session
from tests.conftest import MigratedDatabase
from tests.factories import Identity


def test_invoices_and_usage_go_after_ten_years_except_a_held_invoice(
    identity: Identity, signed_in: SignIn, database: MigratedDatabase
) -> None:
    load_purgers()
    org = identity.organization()
    client = signed_in(Role.BILLING, org)
    assert client.put("/v1/billing/profile", json=PROFILE).status_code == 200
    ended_session(database, org.id, 120)
    with transaction(database.sessions) as db:
        metering.meter_ended_sessions(db)
    period = {
        "period_start": (utcnow() - timedelta(days=1)).isoformat(),
        "period_end": (utcnow() + timedelta(minutes=1)).isoformat(),
    }
    held, purged = (client.post("/v1/billing/invoices", json=period).json() for _ in range(2))
    with transaction(database.sessions) as db:
        place_legal_hold(db, org.id, "tax audit", object_type="invoice", object_ref=held["id"])

    def remaining() -> tuple[list[str], bool]:
        with database.sessions() as db:
            invoices = db.scalars(select(Invoice.id).where(Invoice.organization_id == org.id))
            usage = db.scalars(select(UsageRecord.id).where(UsageRecord.organization_id == org.id))
            return sorted(invoices), bool(usage.all())

    both = sorted([held["id"], purged["id"]])
    assert remaining() == (both, True)
    run_purge(database.sessions, now=utcnow() + timedelta(days=BOOKKEEPING_DAYS - 1))
    assert remaining() == (both, True)
    run_purge(database.sessions, now=utcnow() + timedelta(days=BOOKKEEPING_DAYS + 1))
    assert remaining() == ([held["id"]], False)
