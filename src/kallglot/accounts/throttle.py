"""Brute-force throttling with exponential back-off (never a permanent lock-out).

Each failed attempt counts against a key (``login:account:<digest>``,
``login:ip:<address>``…). The first few failures are free; after that every failure
doubles the wait before the next attempt, up to a ceiling, so an attacker can slow
an account down but never lock its owner out for good. A success clears the account
key. Counters live in the app's shared state (:mod:`kallglot.infra.shared_state`: in
process when embedded, Redis with several nodes, so every node sees the same
budget); sessions made outside the app (CLI, scripts) fall back to the database.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from kallglot.accounts.models import ThrottleCounter
from kallglot.accounts.tokens import digest
from kallglot.core.clock import utcnow
from kallglot.core.errors import RateLimitedError
from kallglot.infra import shared_state
from kallglot.infra.shared_state import SharedState


@dataclass(frozen=True)
class Policy:
    free_failures: int
    base_delay: timedelta
    max_delay: timedelta
    forget_after: timedelta = timedelta(hours=1)


ACCOUNT_POLICY = Policy(
    free_failures=5, base_delay=timedelta(seconds=2), max_delay=timedelta(minutes=15)
)
IP_POLICY = Policy(
    free_failures=20, base_delay=timedelta(seconds=2), max_delay=timedelta(minutes=15)
)


def account_key(kind: str, identifier: str) -> str:
    return f"{kind}:account:{digest(identifier.casefold())[:32]}"


def ip_key(kind: str, ip: str | None) -> str:
    return f"{kind}:ip:{ip or 'unknown'}"[:120]


def check(session: Session, keys: list[str]) -> None:
    """Raise 429 with ``Retry-After`` while any of ``keys`` is backing off."""
    state = shared_state.of(session)
    wait = _shared_wait(state, keys) if state is not None else _database_wait(session, keys)
    if wait > 0:
        raise RateLimitedError(
            "Too many attempts. Wait before trying again.",
            code="too_many_attempts",
            retry_after=max(1, math.ceil(wait)),
        )


def _database_wait(session: Session, keys: list[str]) -> float:
    now = utcnow()
    wait = 0.0
    for key in keys:
        counter = session.get(ThrottleCounter, key)
        if (
            counter is not None
            and counter.blocked_until is not None
            and counter.blocked_until > now
        ):
            wait = max(wait, (counter.blocked_until - now).total_seconds())
    return wait


def _shared_wait(state: SharedState, keys: list[str]) -> float:
    now = time.time()
    wait = 0.0
    for key in keys:
        blocked_until = state.get(_blocked_key(key))
        if blocked_until is not None:
            wait = max(wait, float(blocked_until) - now)
    return wait


def _delay(failures: int, policy: Policy) -> timedelta | None:
    over = failures - policy.free_failures
    if over <= 0:
        return None
    delay: timedelta = min(policy.base_delay * (2 ** min(over - 1, 20)), policy.max_delay)
    return delay


def fail(session: Session, key: str, policy: Policy) -> None:
    """Count one failure against ``key``."""
    state = shared_state.of(session)
    if state is not None:
        failures = state.increment(_failures_key(key), policy.forget_after.total_seconds())
        delay = _delay(failures, policy)
        if delay is not None:
            seconds = delay.total_seconds()
            state.put(_blocked_key(key), str(time.time() + seconds), seconds)
        return
    now = utcnow()
    counter = session.get(ThrottleCounter, key, with_for_update=True)
    if counter is None:
        counter = ThrottleCounter(key=key, failures=0, updated_at=now)
        session.add(counter)
    elif now - counter.updated_at > policy.forget_after:
        counter.failures, counter.blocked_until = 0, None
    counter.failures += 1
    counter.updated_at = now
    delay = _delay(counter.failures, policy)
    if delay is not None:
        counter.blocked_until = now + delay
    session.flush()


def clear(session: Session, key: str) -> None:
    state = shared_state.of(session)
    if state is not None:
        state.delete(_failures_key(key), _blocked_key(key))
        return
    session.execute(delete(ThrottleCounter).where(ThrottleCounter.key == key))


def _failures_key(key: str) -> str:
    return f"throttle:{key}:failures"


def _blocked_key(key: str) -> str:
    return f"throttle:{key}:blocked_until"
