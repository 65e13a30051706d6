"""API credits, as the public Kallglot API counts them: one per session created (and per
analysis, when that endpoint exists), a monthly allowance per plan, 402 when it is spent.

Credits count API operations; they are not money and not minutes. What a session costs in
time is metered separately by :mod:`kallglot.billing.metering` (prepaid seconds or a
subscription billed per minute). A month's usage is one row per organization, bumped by a
conditional ``UPDATE`` in the transaction of the operation it pays for, so two nodes cannot
spend the last credit twice and a refused or failed operation spends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, String, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from kallglot.billing.metering import is_subscribed
from kallglot.billing.models import BillingAccount
from kallglot.core.clock import utcnow
from kallglot.core.errors import PaymentRequiredError
from kallglot.core.settings import PlanLimits, Settings
from kallglot.db.base import Base

FREE_PLAN = "free"


class ApiCreditUsage(Base):
    """Credits an organization spent in one calendar month (UTC)."""

    __tablename__ = "api_credit_usage"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # "YYYY-MM"
    used: Mapped[int] = mapped_column(default=0)


@dataclass(frozen=True)
class CreditBalance:
    remaining: int
    used: int


def period_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def plan_of(db: Session, organization_id: str) -> str:
    """The organization's plan when it is subscribed (or on contract), else ``free``."""
    account = db.get(BillingAccount, organization_id)
    return account.plan if account is not None and is_subscribed(account) else FREE_PLAN


def limits_for(db: Session, settings: Settings, organization_id: str) -> PlanLimits:
    plans = settings.plan_limits
    return plans.get(plan_of(db, organization_id), plans[FREE_PLAN])


def balance(db: Session, settings: Settings, organization_id: str) -> CreditBalance:
    allowance = limits_for(db, settings, organization_id).api_credits_per_month
    row = db.get(ApiCreditUsage, (organization_id, period_of(utcnow())))
    used = row.used if row is not None else 0
    return CreditBalance(remaining=max(0, allowance - used), used=used)


def consume(db: Session, settings: Settings, organization_id: str) -> CreditBalance:
    """Spend one credit in ``db``'s transaction, or raise 402 ``insufficient_api_credits``."""
    allowance = limits_for(db, settings, organization_id).api_credits_per_month
    period = period_of(utcnow())
    if db.get(ApiCreditUsage, (organization_id, period)) is None:
        try:
            with db.begin_nested():
                db.add(ApiCreditUsage(organization_id=organization_id, period=period, used=0))
        except IntegrityError:
            pass  # another request opened the month first
    spent = db.execute(
        update(ApiCreditUsage)
        .where(
            ApiCreditUsage.organization_id == organization_id,
            ApiCreditUsage.period == period,
            ApiCreditUsage.used < allowance,
        )
        .values(used=ApiCreditUsage.used + 1)
        .execution_options(synchronize_session=False)
    )
    if getattr(spent, "rowcount", 0) != 1:
        raise PaymentRequiredError(
            f"API credits exhausted: the plan's {allowance} credits of this month are used. "
            "Upgrade the plan or wait for the next month.",
            code="insufficient_api_credits",
        )
    row = db.get(ApiCreditUsage, (organization_id, period), populate_existing=True)
    used = row.used if row is not None else allowance
    return CreditBalance(remaining=max(0, allowance - used), used=used)
