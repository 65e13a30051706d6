"""Purging billing records (``billing_records``) after the bookkeeping retention period.

Invoices and the usage behind them are accounting records: kept ten years (e.g. German
HGB §257 / AO §147), then deleted with the buyer details frozen into each invoice.
"""

from __future__ import annotations

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
    return batch.delete_expired(Invoice, Invoice.issued_at, held=(Invoice.id, "invoice"))


@purger("billing_records")
def purge_usage_records(batch: PurgeBatch) -> int:
    return batch.delete_expired(UsageRecord, UsageRecord.created_at)
