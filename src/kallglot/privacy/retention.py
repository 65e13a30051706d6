"""Retention: how long each kind of personal data is kept, and the purge job that enforces it.

Each kind of personal data has a :class:`RetentionClass`. Organizations may override a class's
period within its bounds. Each domain registers a *purger* for the classes it stores: a
function that deletes one batch of expired rows (and their blobs) and returns how many it
removed. :func:`run_purge` calls every purger for every organization, skipping organizations
under a legal hold and telling purgers which objects are held.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, Engine, delete, or_, select, text
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker

from kallglot.accounts.models import Organization
from kallglot.core.clock import utcnow
from kallglot.core.errors import NotFoundError, ValidationFailedError
from kallglot.core.ids import new_id
from kallglot.db.base import Base
from kallglot.db.engine import transaction
from kallglot.privacy.models import LegalHold, PurgeRun, RetentionOverride
from kallglot.realtime.models import CallSession
from kallglot.telephony.calls.models import CallRecord

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
MAX_BATCHES_PER_PURGER = 100_000
# PostgreSQL advisory lock id: one purge at a time when several API nodes schedule it.
PURGE_LOCK_KEY = 0x4B47_5052  # "KGPR"


class RetentionBasis(StrEnum):
    AGE = "age"  # purged when older than the period
    EXPIRY_DATE = "expiry_date"  # each record carries its own end date (e.g. KYC's regulation)
    UNTIL_DELETION = "until_deletion"  # kept until the account is deleted


@dataclass(frozen=True)
class RetentionClass:
    name: str
    description: str
    basis: RetentionBasis
    default_days: int | None = None
    min_days: int | None = None
    max_days: int | None = None

    @property
    def overridable(self) -> bool:
        return self.basis is RetentionBasis.AGE and self.min_days is not None

    def cutoff(self, now: datetime, days: int | None) -> datetime:
        """Records created (or ending) before this instant are expired."""
        if self.basis is RetentionBasis.AGE:
            return now - timedelta(days=days if days is not None else self.default_days or 0)
        return now


BUILTIN_CLASSES = (
    RetentionClass(
        "transcripts", "call transcripts and translations", RetentionBasis.AGE, 30, 1, 730
    ),
    RetentionClass(
        "call_metadata", "call records and caller numbers", RetentionBasis.AGE, 30, 1, 730
    ),
    RetentionClass("recordings", "call audio recordings", RetentionBasis.AGE, 30, 1, 730),
    RetentionClass("agent_activity", "agent activity logs", RetentionBasis.AGE, 90, 7, 365),
    RetentionClass("audit", "security audit log", RetentionBasis.AGE, 365, 180, 3650),
    RetentionClass("kyc", "KYC documents and fields", RetentionBasis.EXPIRY_DATE),
    RetentionClass("account", "account and organization data", RetentionBasis.UNTIL_DELETION),
)


@dataclass(frozen=True)
class PurgeBatch:
    """What a purger is asked to do: delete at most ``limit`` records of ``organization_id``
    that expired before ``cutoff`` and are not held, and return how many it deleted."""

    session: Session
    organization_id: str
    retention_class: RetentionClass
    cutoff: datetime
    now: datetime
    limit: int
    held_objects: frozenset[tuple[str, str]]

    def held_refs(self, object_type: str) -> frozenset[str]:
        """Refs of held objects of one type, e.g. ``batch.held_refs("call")``."""
        return frozenset(ref for kind, ref in self.held_objects if kind == object_type)

    def expired_ids(
        self,
        model: type[Base],
        stamped: QueryableAttribute[datetime] | QueryableAttribute[datetime | None],
        *conditions: ColumnElement[bool],
        held: tuple[QueryableAttribute[str], str] | None = None,
    ) -> list[str]:
        """Ids of at most ``limit`` rows of ``model`` of this organization whose ``stamped``
        time is before the cutoff, that meet ``conditions`` and whose ``held`` column
        (with its legal-hold object type, e.g. ``(CallRecord.id, "call")``) is not held."""
        columns = model.__table__.c
        query = select(columns.id).where(
            columns.organization_id == self.organization_id, stamped < self.cutoff, *conditions
        )
        if held is not None:
            column, object_type = held
            query = query.where(column.not_in(self.held_refs(object_type)))
        return list(self.session.scalars(query.limit(self.limit)))

    def delete_expired(
        self,
        model: type[Base],
        stamped: QueryableAttribute[datetime] | QueryableAttribute[datetime | None],
        *conditions: ColumnElement[bool],
        held: tuple[QueryableAttribute[str], str] | None = None,
    ) -> int:
        """Delete what :meth:`expired_ids` finds; returns how many rows went."""
        ids = self.expired_ids(model, stamped, *conditions, held=held)
        if ids:
            self.session.execute(delete(model).where(model.__table__.c.id.in_(ids)))
        return len(ids)


Purger = Callable[[PurgeBatch], int]


@dataclass
class PurgeRegistry:
    """Retention classes and, per class, the purgers that domains register."""

    classes: dict[str, RetentionClass] = field(default_factory=dict)
    purgers: dict[str, dict[str, Purger]] = field(default_factory=dict)

    @classmethod
    def with_builtin_classes(cls) -> PurgeRegistry:
        registry = cls()
        for retention_class in BUILTIN_CLASSES:
            registry.register_class(retention_class)
        return registry

    def register_class(self, retention_class: RetentionClass) -> None:
        if retention_class.name in self.classes:
            raise ValueError(f"retention class {retention_class.name} is already registered")
        self.classes[retention_class.name] = retention_class

    def register_purger(self, class_name: str, name: str, purger: Purger) -> None:
        """Register (or replace) the purger ``name`` of ``class_name``."""
        if class_name not in self.classes:
            raise ValueError(f"unknown retention class {class_name}")
        self.purgers.setdefault(class_name, {})[name] = purger

    def get_class(self, class_name: str) -> RetentionClass:
        try:
            return self.classes[class_name]
        except KeyError:
            raise NotFoundError(
                f"unknown retention class {class_name}", param="retention_class"
            ) from None


default_registry = PurgeRegistry.with_builtin_classes()


def purger(class_name: str, name: str | None = None) -> Callable[[Purger], Purger]:
    """Decorator registering a purger with the default registry."""

    def register(function: Purger) -> Purger:
        default_registry.register_purger(class_name, name or function.__name__, function)
        return function

    return register


# --- policy (service functions; routes stay thin) -------------------------------------------


@dataclass(frozen=True)
class EffectiveRetention:
    retention_class: RetentionClass
    days: int | None
    overridden: bool


def retention_policy(
    session: Session, organization_id: str, registry: PurgeRegistry = default_registry
) -> list[EffectiveRetention]:
    """Every class with the period in force for the organization."""
    overrides = _overrides(session, organization_id)
    return [
        EffectiveRetention(
            retention_class=cls,
            days=overrides.get(name, cls.default_days),
            overridden=name in overrides,
        )
        for name, cls in registry.classes.items()
    ]


def set_retention_override(
    session: Session,
    organization_id: str,
    class_name: str,
    days: int,
    *,
    actor_id: str | None = None,
    registry: PurgeRegistry = default_registry,
) -> RetentionOverride:
    """Set the organization's period for a class; refused outside the class's bounds."""
    retention_class = registry.get_class(class_name)
    if not retention_class.overridable:
        raise ValidationFailedError(
            f"retention class {class_name} cannot be overridden", param="retention_class"
        )
    low, high = retention_class.min_days, retention_class.max_days
    if (low is not None and days < low) or (high is not None and days > high):
        raise ValidationFailedError(
            f"{class_name} retention must be between {low} and {high} days", param="days"
        )
    row = session.scalar(
        select(RetentionOverride).where(
            RetentionOverride.organization_id == organization_id,
            RetentionOverride.retention_class == class_name,
        )
    )
    now = utcnow()
    if row is None:
        row = RetentionOverride(
            id=new_id("rto"),
            organization_id=organization_id,
            retention_class=class_name,
            days=days,
            updated_at=now,
            updated_by=actor_id,
        )
        session.add(row)
    else:
        row.days, row.updated_at, row.updated_by = days, now, actor_id
    session.flush()
    return row


def clear_retention_override(session: Session, organization_id: str, class_name: str) -> bool:
    """Return the class to its default period; True if there was an override."""
    row = session.scalar(
        select(RetentionOverride).where(
            RetentionOverride.organization_id == organization_id,
            RetentionOverride.retention_class == class_name,
        )
    )
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def _overrides(session: Session, organization_id: str) -> dict[str, int]:
    rows = session.execute(
        select(RetentionOverride.retention_class, RetentionOverride.days).where(
            RetentionOverride.organization_id == organization_id
        )
    ).all()
    return {name: days for name, days in rows}


# --- legal holds ----------------------------------------------------------------------------


def place_legal_hold(
    session: Session,
    organization_id: str,
    reason: str,
    *,
    object_type: str | None = None,
    object_ref: str | None = None,
    actor_id: str | None = None,
) -> LegalHold:
    """Hold the whole organization, or one object (``object_type="call", object_ref=call_id``)."""
    if (object_type is None) != (object_ref is None):
        raise ValidationFailedError("object_type and object_ref go together", param="object_ref")
    if not reason.strip():
        raise ValidationFailedError("a legal hold needs a reason", param="reason")
    hold = LegalHold(
        id=new_id("hold"),
        organization_id=organization_id,
        object_type=object_type,
        object_ref=object_ref,
        reason=reason.strip(),
        placed_by=actor_id,
    )
    session.add(hold)
    session.flush()
    return hold


def check_hold_target(
    session: Session, organization_id: str, object_type: str | None, ref: str | None
) -> None:
    """An object hold names a call of this organization, by call record or session id: another
    organization's call is as unknown (404) as one that never existed. A half-named object is
    left to :func:`place_hold`, which says what is missing."""
    if object_type is None or ref is None:
        return
    if not _is_call(session, organization_id, object_type, ref):
        raise NotFoundError(f"no such {object_type} in this organization", param="object_ref")


def _is_call(session: Session, organization_id: str, object_type: str, ref: str | None) -> bool:
    if object_type != "call" or not ref:
        return False
    record = select(CallRecord.id).where(
        CallRecord.organization_id == organization_id,
        or_(CallRecord.id == ref, CallRecord.session_id == ref),
    )
    call_session = select(CallSession.id).where(
        CallSession.organization_id == organization_id, CallSession.id == ref
    )
    return session.scalar(record.union_all(call_session).limit(1)) is not None


def release_legal_hold(
    session: Session, organization_id: str, hold_id: str, *, actor_id: str | None = None
) -> LegalHold:
    hold = session.get(LegalHold, hold_id)
    if hold is None or hold.organization_id != organization_id:
        raise NotFoundError("no such legal hold", param="hold_id")
    if hold.released_at is None:
        hold.released_at, hold.released_by = utcnow(), actor_id
        session.flush()
    return hold


def active_legal_holds(session: Session, organization_id: str) -> list[LegalHold]:
    return list(
        session.scalars(
            select(LegalHold)
            .where(LegalHold.organization_id == organization_id, LegalHold.released_at.is_(None))
            .order_by(LegalHold.id)
        )
    )


# --- the purge job --------------------------------------------------------------------------


@dataclass
class PurgeReport:
    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    removed: dict[str, int] = field(default_factory=dict)  # "class/purger" -> records
    held_organizations: list[str] = field(default_factory=list)
    skipped: bool = False  # another node was already purging

    @property
    def total(self) -> int:
        return sum(self.removed.values())


def run_purge(
    sessions: sessionmaker[Session],
    *,
    registry: PurgeRegistry = default_registry,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> PurgeReport:
    """Delete everything past its retention, in batches (one transaction each).

    Idempotent: a second run right after finds nothing to remove. Organizations under a
    legal hold are skipped whole; objects under a hold are passed to purgers to leave alone.
    """
    now = now or utcnow()
    report = PurgeReport(run_id=new_id("purge"), started_at=now)
    with _single_runner(sessions) as acquired:
        if not acquired:
            report.skipped = True
            report.finished_at = utcnow()
            return report
        _purge_all(sessions, registry, now, batch_size, report)
    logger.info(
        "retention purge finished",
        extra={
            "run_id": report.run_id,
            "removed": report.total,
            "held": len(report.held_organizations),
        },
    )
    return report


def _purge_all(
    sessions: sessionmaker[Session],
    registry: PurgeRegistry,
    now: datetime,
    batch_size: int,
    report: PurgeReport,
) -> None:
    for key in _purger_keys(registry):
        report.removed[key] = 0
    with transaction(sessions) as session:
        organization_ids = list(session.scalars(select(Organization.id).order_by(Organization.id)))
    for organization_id in organization_ids:
        _purge_organization(sessions, registry, organization_id, now, batch_size, report)
    report.finished_at = utcnow()
    with transaction(sessions) as session:
        session.add(
            PurgeRun(
                id=report.run_id,
                started_at=report.started_at,
                finished_at=report.finished_at,
                removed=dict(report.removed),
                held_organizations=len(report.held_organizations),
            )
        )


@contextmanager
def _single_runner(sessions: sessionmaker[Session]) -> Iterator[bool]:
    """On PostgreSQL, a session advisory lock so that only one node purges at a time.

    SQLite is the single-node embedded mode (and serialises writers anyway).
    """
    engine = sessions.kw.get("bind")
    if not isinstance(engine, Engine) or engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as connection:
        acquired = bool(
            connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": PURGE_LOCK_KEY}
            ).scalar()
        )
        connection.commit()
        try:
            yield acquired
        finally:
            if acquired:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PURGE_LOCK_KEY})
                connection.commit()


def _purger_keys(registry: PurgeRegistry) -> list[str]:
    return [f"{cls}/{name}" for cls, named in registry.purgers.items() for name in named]


def _purge_organization(
    sessions: sessionmaker[Session],
    registry: PurgeRegistry,
    organization_id: str,
    now: datetime,
    batch_size: int,
    report: PurgeReport,
) -> None:
    with transaction(sessions) as session:
        holds = active_legal_holds(session, organization_id)
        overrides = _overrides(session, organization_id)
    if any(hold.object_type is None for hold in holds):
        report.held_organizations.append(organization_id)
        return
    held = frozenset(
        (hold.object_type, hold.object_ref)
        for hold in holds
        if hold.object_type is not None and hold.object_ref is not None
    )
    for class_name, named in registry.purgers.items():
        retention_class = registry.classes[class_name]
        cutoff = retention_class.cutoff(now, overrides.get(class_name))
        for name, function in named.items():
            for _ in range(MAX_BATCHES_PER_PURGER):
                with transaction(sessions) as session:
                    removed = function(
                        PurgeBatch(
                            session=session,
                            organization_id=organization_id,
                            retention_class=retention_class,
                            cutoff=cutoff,
                            now=now,
                            limit=batch_size,
                            held_objects=held,
                        )
                    )
                report.removed[f"{class_name}/{name}"] += removed
                if removed < batch_size:
                    break
