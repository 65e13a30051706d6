"""Purging billing records (``billing_records``) after the bookkeeping retention period.

Invoices and the usage behind them are accounting records: kept ten years (e.g. German
HGB §257 / AO §147), then deleted with the buyer details frozen into each invoice.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from kallglot.billing.models import Invoice, UsageRecord
from kallglot.privacy.retention import (
    PurgeBatch,
    RetentionBasis,
    RetentionClass,
    default_registry,
    purger,
)

BOOKKEEPING_DAYS = 3653
default_registry.register_class(
    RetentionClass(
        "billing_records",
        "invoices and usage records (bookkeeping)",
        RetentionBasis.AGE,
        BOOKKEEPING_DAYS,
        BOOKKEEPING_DAYS,
        BOOKKEEPING_DAYS + 365,
    )
)


@purger("billing_records")
def purge_invoices(batch: PurgeBatch) -> int:
    ids = batch.session.scalars(
        select(Invoice.id)
        .where(
            Invoice.organization_id == batch.organization_id,
            Invoice.issued_at < batch.cutoff,
            Invoice.id.not_in(batch.held_refs("invoice")),
        )
        .limit(batch.limit)
    ).all()
    batch.session.execute(delete(Invoice).where(Invoice.id.in_(ids)))
    return len(ids)


@purger("billing_records")
def purge_usage_records(batch: PurgeBatch) -> int:
    ids = batch.session.scalars(
        select(UsageRecord.id)
        .where(
            UsageRecord.organization_id == batch.organization_id,
            UsageRecord.created_at < batch.cutoff,
        )
        .limit(batch.limit)
    ).all()
    batch.session.execute(delete(UsageRecord).where(UsageRecord.id.in_(ids)))
    return len(ids)
