"""The public sub-processor list. A new sub-processor is announced to every organization's
owners ``NOTICE_PERIOD`` before it takes effect (so they can object in time)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kallglot.accounts.models import Membership, User
from kallglot.accounts.permissions import Role
from kallglot.audit import log as audit
from kallglot.audit.log import SystemActor
from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings
from kallglot.mail import sender as mail
from kallglot.privacy.models import SubProcessor

NOTICE_PERIOD = timedelta(days=14)


def current_list(session: Session, now: datetime | None = None) -> list[SubProcessor]:
    """Sub-processors in force or announced (not removed), oldest first."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(SubProcessor)
            .where(or_(SubProcessor.removed_at.is_(None), SubProcessor.removed_at > now))
            .order_by(SubProcessor.effective_at, SubProcessor.id)
        )
    )


def version_of(entries: list[SubProcessor]) -> str:
    """The list's version: the date of its latest change."""
    latest = max((entry.announced_at for entry in entries), default=None)
    return latest.date().isoformat() if latest else "empty"


def add_subprocessor(
    session: Session,
    settings: Settings,
    *,
    name: str,
    purpose: str,
    location: str,
    data_categories: list[str],
    dpa_url: str,
) -> tuple[SubProcessor, int]:
    """Announce a sub-processor (effective in 14 days) and mail every owner; returns how many."""
    now = utcnow()
    entry = SubProcessor(
        id=new_id("subp"),
        name=name,
        purpose=purpose,
        location=location,
        data_categories=sorted(set(data_categories)),
        dpa_url=dpa_url,
        announced_at=now,
        effective_at=now + NOTICE_PERIOD,
    )
    session.add(entry)
    owners = session.scalars(
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.role == Role.OWNER.value, User.is_active.is_(True))
        .distinct()
    ).all()
    for address in owners:
        mail.send(
            session,
            settings,
            mail.Mail(
                to=address,
                subject=f"New Kallglot sub-processor from {entry.effective_at:%Y-%m-%d}: {name}",
                body=(
                    f"From {entry.effective_at:%Y-%m-%d} {name} ({location}) will process "
                    f"{', '.join(entry.data_categories)} for: {purpose}.\n"
                    f"Data processing agreement: {dpa_url}\n"
                    "You may object before that date by replying to this message."
                ),
            ),
        )
    audit.record(
        session,
        SystemActor(),
        "subprocessor.announced",
        target=("subprocessor", entry.id),
        changes={"name": name, "owners_notified": len(owners)},
    )
    session.flush()
    return entry, len(owners)
