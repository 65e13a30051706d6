"""Appending to the audit log and proving it has not been altered.

Each organization has its own chain: record ``n`` stores the hash of record ``n-1``
and its own hash over every field, so editing, deleting or reordering any row
breaks the chain at that row. Appends lock the chain's head row, so concurrent
writers queue instead of forking the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kallglot.audit.models import GLOBAL_CHAIN, AuditChainHead, AuditEvent
from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.core.logging import request_id_var

GENESIS_HASH = "0" * 64
REDACTED = "[redacted]"
# Keys whose values never enter the audit log, at any depth of the change summary.
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwords",
        "secret",
        "secrets",
        "token",
        "tokens",
        "code",
        "codes",
        "hash",
        "otp",
        "totp",
        "transcript",
        "transcripts",
        "text",
        "translation",
        "iban",
        "credential",
        "credentials",
    }
)
MAX_CHANGE_VALUE = 200


@dataclass(frozen=True)
class AuditContext:
    """Where a request came from."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


class Actor(Protocol):
    """Who acts: a ``Principal`` (user or API key) fits, so does ``SystemActor``."""

    @property
    def organization_id(self) -> str | None: ...

    @property
    def actor_type(self) -> str: ...

    @property
    def actor_id(self) -> str | None: ...


@dataclass(frozen=True)
class SystemActor:
    """Kallglot itself (a job, the CLI), or an anonymous caller (a failed login)."""

    organization_id: str | None = None
    actor_type: str = "system"
    actor_id: str | None = None


def redact_changes(changes: Mapping[str, Any] | None) -> dict[str, Any]:
    """A change summary without secrets: secret-looking keys are masked, long values cut."""
    return {str(key): _redact_value(str(key), value) for key, value in (changes or {}).items()}


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_WORDS.intersection(key.lower().split("_")) and value is not None:
        return REDACTED
    if isinstance(value, Mapping):
        return redact_changes(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        return [_redact_value(key, item) for item in items]
    if isinstance(value, datetime):
        return _timestamp(value)
    if value is None or isinstance(value, bool | int):
        return value
    text = str(value)
    return text if len(text) <= MAX_CHANGE_VALUE else text[:MAX_CHANGE_VALUE] + "…"


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def compute_hash(event: AuditEvent) -> str:
    """SHA-256 over the canonical JSON of every field and the previous hash."""
    payload = {
        "chain": event.chain,
        "sequence": event.sequence,
        "occurred_at": _timestamp(event.occurred_at),
        "organization_id": event.organization_id,
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "result": event.result,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "changes": event.changes,
        "prev_hash": event.prev_hash,
        "id": event.id,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _lock_head(session: Session, chain: str) -> AuditChainHead:
    """Take the chain's write lock, then read its head.

    A no-op UPDATE locks the row on PostgreSQL and, on SQLite, opens the write
    transaction before the head is read (pysqlite would otherwise read it outside
    any transaction, and two writers would both see the same head).
    """
    for _ in range(2):
        touched = session.execute(
            update(AuditChainHead)
            .where(AuditChainHead.chain == chain)
            .values(sequence=AuditChainHead.sequence)
            .execution_options(synchronize_session=False)
        )
        if getattr(touched, "rowcount", 0):
            head = session.get(AuditChainHead, chain, populate_existing=True)
            assert head is not None
            return head
        try:
            with session.begin_nested():
                session.add(AuditChainHead(chain=chain, sequence=0, hash=GENESIS_HASH))
        except IntegrityError:
            continue  # another writer created it first: lock theirs
        head = session.get(AuditChainHead, chain)
        assert head is not None
        return head
    raise RuntimeError("could not lock the audit chain head")


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    *,
    target: tuple[str, str | None] | None = None,
    result: str = "success",
    changes: Mapping[str, Any] | None = None,
    context: AuditContext | None = None,
    organization_id: str | None = None,
) -> AuditEvent:
    """Append one audit record in the caller's transaction.

    ``action`` is ``noun.verb`` (``api_key.created``); ``target`` is ``(type, id)``;
    ``changes`` is a short summary (secret-looking keys are redacted, never pass
    transcript text). The context defaults to the actor's (a ``Principal`` carries
    the request's IP and user agent) and the current request id.
    """
    actor = actor or SystemActor(organization_id=organization_id)
    org_id = organization_id or actor.organization_id
    context = context or getattr(actor, "context", None) or AuditContext()
    chain = org_id or GLOBAL_CHAIN
    head = _lock_head(session, chain)
    event = AuditEvent(
        id=new_id("aud"),
        chain=chain,
        sequence=head.sequence + 1,
        occurred_at=utcnow(),
        organization_id=org_id,
        actor_type=actor.actor_type,
        actor_id=actor.actor_id,
        action=action,
        target_type=target[0] if target else None,
        target_id=target[1] if target else None,
        result=result,
        ip=context.ip,
        user_agent=(context.user_agent or "")[:300] or None,
        request_id=context.request_id or request_id_var.get(),
        changes=redact_changes(changes),
        prev_hash=head.hash,
    )
    event.hash = compute_hash(event)
    head.sequence, head.hash = event.sequence, event.hash
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    chain: str
    records: int
    broken_at: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def _events(session: Session, chain: str, batch: int = 1000) -> Iterator[AuditEvent]:
    """The chain in sequence order, a batch at a time (no server-side cursor left open)."""
    after = 0
    while True:
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.chain == chain, AuditEvent.sequence > after)
            .order_by(AuditEvent.sequence)
            .limit(batch)
        ).all()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].sequence


def verify_chain(session: Session, chain: str) -> ChainReport:
    """Recompute one chain; report the first record whose sequence, link or hash is wrong."""
    expected_prev, expected_sequence, count = GENESIS_HASH, 1, 0
    for event in _events(session, chain):
        count += 1
        if event.sequence != expected_sequence:
            return ChainReport(chain, count, expected_sequence, "missing record")
        if event.prev_hash != expected_prev:
            return ChainReport(chain, count, event.sequence, "previous hash does not match")
        if compute_hash(event) != event.hash:
            return ChainReport(chain, count, event.sequence, "record was altered")
        expected_prev, expected_sequence = event.hash, expected_sequence + 1
    head = session.get(AuditChainHead, chain)
    if head is not None and head.sequence != expected_sequence - 1:
        return ChainReport(chain, count, expected_sequence, "records missing at the end")
    return ChainReport(chain, count)


def verify(session: Session, organization_id: str | None = None) -> list[ChainReport]:
    """Verify one organization's chain, or every chain."""
    if organization_id is not None:
        return [verify_chain(session, organization_id)]
    chains = session.scalars(select(AuditChainHead.chain).order_by(AuditChainHead.chain)).all()
    return [verify_chain(session, chain) for chain in chains]
