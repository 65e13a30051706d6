"""Usage metering, prepaid credit, and the session admission and limit policy.

Rounding rule: a session's billable time runs from its first audio (``started_at``) to its
end and is rounded **up to whole minutes**; a session that never started costs nothing.
Each metric of a session is one immutable usage record with the identifier
``{session_id}:{metric}`` (numbers: ``{number_id}:{YYYY-MM-DD}:numbers_rented``), so metering
twice changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kallglot.billing.models import BillingAccount, CreditEntry, UsageRecord
from kallglot.core.clock import utcnow
from kallglot.core.errors import PaymentRequiredError, PermissionDeniedError
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings
from kallglot.realtime.limits import LimitAction, LimitVerdict
from kallglot.realtime.models import CallSession
from kallglot.realtime.service import duration_seconds
from kallglot.realtime.state import TERMINAL
from kallglot.telephony.numbers.models import PhoneNumber

SESSION_MINUTES = "session_minutes"
TRANSLATION_CALLER = "translation_minutes_caller"
TRANSLATION_AGENT = "translation_minutes_agent"
TRANSCRIPTION = "transcription_minutes"
RECORDING = "recording_minutes"
NUMBERS_RENTED = "numbers_rented"
METRICS = (
    SESSION_MINUTES,
    TRANSLATION_CALLER,
    TRANSLATION_AGENT,
    TRANSCRIPTION,
    RECORDING,
    NUMBERS_RENTED,
)

ACTIVE_STATUSES = frozenset({"active", "trialing"})
INACTIVE_STATUSES = frozenset({"past_due", "unpaid", "canceled", "incomplete_expired", "paused"})
_ENDED = [status.value for status in TERMINAL]


def billable_minutes(call: CallSession) -> int:
    """Whole minutes, rounded up, from first audio to the end (0 if it never started)."""
    return math.ceil(duration_seconds(call) / 60)


def session_metrics(call: CallSession) -> dict[str, int]:
    minutes = billable_minutes(call)
    metrics = {SESSION_MINUTES: minutes}
    if minutes:
        if call.mode == "transcription":
            metrics[TRANSCRIPTION] = minutes
        else:
            metrics[TRANSLATION_CALLER] = minutes
            metrics[TRANSLATION_AGENT] = minutes
        if call.recording_enabled:
            metrics[RECORDING] = minutes
    return metrics


def is_subscribed(account: BillingAccount | None) -> bool:
    """Usage is billed afterwards (Stripe subscription or enterprise contract)."""
    return account is not None and (
        account.plan == "contract" or account.subscription_status in ACTIVE_STATUSES
    )


def meter_session(db: Session, call: CallSession) -> list[UsageRecord]:
    """The usage records of an ended session (created once); prepaid credit is debited."""
    existing = set(
        db.scalars(select(UsageRecord.identifier).where(UsageRecord.source_id == call.id))
    )
    created = []
    for metric, quantity in session_metrics(call).items():
        identifier = f"{call.id}:{metric}"
        if identifier in existing:
            continue
        record = UsageRecord(
            id=new_id("usg"),
            organization_id=call.organization_id,
            identifier=identifier,
            source_id=call.id,
            metric=metric,
            quantity=quantity,
            occurred_at=call.ended_at or utcnow(),
        )
        db.add(record)
        created.append(record)
    minutes = billable_minutes(call)
    if minutes and not is_subscribed(db.get(BillingAccount, call.organization_id)):
        add_credit(db, call.organization_id, -minutes * 60, f"session:{call.id}")
    db.flush()
    return created


def _unmetered(db: Session, organization_id: str | None = None) -> list[CallSession]:
    metered = select(UsageRecord.source_id).where(UsageRecord.metric == SESSION_MINUTES)
    statement = select(CallSession).where(
        CallSession.status.in_(_ENDED), CallSession.id.not_in(metered)
    )
    if organization_id is not None:
        statement = statement.where(CallSession.organization_id == organization_id)
    return list(db.scalars(statement))


def meter_ended_sessions(db: Session) -> int:
    """Meter every ended session not metered yet; returns how many records were created."""
    return sum(len(meter_session(db, call)) for call in _unmetered(db))


def meter_numbers(db: Session, day: date) -> int:
    """One ``numbers_rented`` record per number held on ``day`` (UTC)."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    numbers = db.scalars(
        select(PhoneNumber).where(
            PhoneNumber.created_at < end,
            or_(PhoneNumber.released_at.is_(None), PhoneNumber.released_at >= start),
        )
    ).all()
    created = 0
    for number in numbers:
        identifier = f"{number.id}:{day.isoformat()}:{NUMBERS_RENTED}"
        if db.scalar(select(UsageRecord.id).where(UsageRecord.identifier == identifier)):
            continue
        db.add(
            UsageRecord(
                id=new_id("usg"),
                organization_id=number.organization_id,
                identifier=identifier,
                source_id=number.id,
                metric=NUMBERS_RENTED,
                quantity=1,
                occurred_at=start,
            )
        )
        created += 1
    db.flush()
    return created


def add_credit(db: Session, organization_id: str, seconds: int, reference: str) -> bool:
    """Move credit once per ``reference``; returns False if that reference was already booked."""
    exists = db.scalar(
        select(CreditEntry.id).where(
            CreditEntry.organization_id == organization_id, CreditEntry.reference == reference
        )
    )
    if exists:
        return False
    db.add(
        CreditEntry(
            id=new_id("crd"), organization_id=organization_id, seconds=seconds, reference=reference
        )
    )
    db.flush()
    return True


def credit_seconds(db: Session, organization_id: str) -> int:
    """Prepaid credit left, net of ended sessions that are not metered yet."""
    booked = db.scalar(
        select(func.coalesce(func.sum(CreditEntry.seconds), 0)).where(
            CreditEntry.organization_id == organization_id
        )
    )
    pending = sum(billable_minutes(call) * 60 for call in _unmetered(db, organization_id))
    return int(booked or 0) - pending


def admit(db: Session, organization_id: str) -> None:
    """Refuse a new session without an active subscription, contract or prepaid credit."""
    account = db.get(BillingAccount, organization_id)
    if is_subscribed(account) or credit_seconds(db, organization_id) > 0:
        return
    if account is not None and account.subscription_status in INACTIVE_STATUSES:
        raise PermissionDeniedError(
            "The organization's subscription is not active; update the payment method.",
            code="organization_inactive",
        )
    raise PaymentRequiredError(
        "The organization has no active subscription and no credit left.",
        code="insufficient_api_credits",
    )


class BillingPolicy:
    """The billing rules the realtime hub applies (``kallglot.realtime.limits``)."""

    def __init__(self, settings: Settings) -> None:
        self._hard_limit = settings.billing_hard_limit_minutes * 60
        self._warning = settings.billing_warning_minutes * 60

    def admit(self, db: Session, organization_id: str) -> None:
        admit(db, organization_id)

    def verdicts(self, db: Session, live: Sequence[CallSession]) -> list[LimitVerdict]:
        verdicts = []
        by_org: dict[str, list[CallSession]] = {}
        for call in live:
            by_org.setdefault(call.organization_id, []).append(call)
        for organization_id, calls in by_org.items():
            account = db.get(BillingAccount, organization_id)
            hard_limit = (
                account.hard_limit_minutes * 60
                if account is not None and account.hard_limit_minutes
                else self._hard_limit
            )
            credit = None
            if not is_subscribed(account):
                credit = credit_seconds(db, organization_id) - sum(
                    duration_seconds(call) for call in calls
                )
            for call in calls:
                left = hard_limit - duration_seconds(call)
                code = "session_limit_reached"
                if credit is not None and credit < left:
                    left, code = credit, "insufficient_api_credits"
                if left <= 0:
                    verdicts.append(LimitVerdict(call.id, LimitAction.END, code, 0))
                elif left <= self._warning:
                    verdicts.append(LimitVerdict(call.id, LimitAction.WARN, code, int(left)))
        return verdicts
