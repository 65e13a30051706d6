"""Short-lived state every API node must agree on: rate-limit counters, idempotency
locks and agent presence.

One small interface, two implementations: :class:`InProcessSharedState` for the
embedded single-process mode, :class:`RedisSharedState` when ``KALLGLOT_REDIS_URL``
is set. The interface is synchronous on purpose: its callers (throttling, the
idempotency claim, the presence hook) already run in worker threads, never on the
event loop, and the Redis client's every network wait is bounded.

The app's session factory carries the state in ``Session.info`` (see :func:`attach`),
so domain code that holds a database session reaches the same state without new
parameters threaded through every call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from sqlalchemy.orm import Session, sessionmaker

from kallglot.core.errors import ServiceUnavailableError

INFO_KEY = "kallglot.shared_state"


@contextmanager
def _unavailable_while_redis_is_down() -> Iterator[None]:
    """Redis down is a 503 in the error envelope: limits are never silently skipped."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise ServiceUnavailableError(
            "Shared state is unavailable; try again shortly.",
            code="shared_state_unavailable",
            retry_after=5,
        ) from exc


class SharedState(Protocol):
    def claim(self, key: str, value: str, ttl_seconds: float) -> bool:
        """Set ``key`` only if absent (a lock); ``True`` if this caller got it."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str, ttl_seconds: float) -> None:
        """Set ``key``, replacing any value; it expires after ``ttl_seconds``."""

    def delete(self, *keys: str) -> None: ...

    def increment(self, key: str, ttl_seconds: float) -> int:
        """Add one to a counter and push its expiry to ``ttl_seconds`` from now."""

    def set_field(self, name: str, field: str, value: str) -> None:
        """Set one field of the mapping ``name`` (mappings do not expire)."""

    def fields(self, name: str) -> dict[str, str]: ...

    def close(self) -> None: ...


class InProcessSharedState:
    """The embedded mode: a dict guarded by a lock, with lazy expiry."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[str, float]] = {}
        self._mappings: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> str | None:
        found = self._values.get(key)
        if found is None:
            return None
        value, expires_at = found
        if expires_at <= time.monotonic():
            del self._values[key]
            return None
        return value

    def claim(self, key: str, value: str, ttl_seconds: float) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._values[key] = (value, time.monotonic() + ttl_seconds)
            return True

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._live(key)

    def put(self, key: str, value: str, ttl_seconds: float) -> None:
        with self._lock:
            self._values[key] = (value, time.monotonic() + ttl_seconds)

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._values.pop(key, None)

    def increment(self, key: str, ttl_seconds: float) -> int:
        with self._lock:
            count = int(self._live(key) or 0) + 1
            self._values[key] = (str(count), time.monotonic() + ttl_seconds)
            return count

    def set_field(self, name: str, field: str, value: str) -> None:
        with self._lock:
            self._mappings.setdefault(name, {})[field] = value

    def fields(self, name: str) -> dict[str, str]:
        with self._lock:
            return dict(self._mappings.get(name, {}))

    def close(self) -> None:
        return None


class RedisSharedState:
    """Multi-node mode: every key lives in Redis under the configured prefix."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        """``client`` must decode responses (see :func:`sync_redis_client`)."""
        self.client = client
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def claim(self, key: str, value: str, ttl_seconds: float) -> bool:
        with _unavailable_while_redis_is_down():
            return bool(self.client.set(self._key(key), value, nx=True, px=_ms(ttl_seconds)))

    def get(self, key: str) -> str | None:
        with _unavailable_while_redis_is_down():
            value = self.client.get(self._key(key))
            return None if value is None else str(value)

    def put(self, key: str, value: str, ttl_seconds: float) -> None:
        with _unavailable_while_redis_is_down():
            self.client.set(self._key(key), value, px=_ms(ttl_seconds))

    def delete(self, *keys: str) -> None:
        with _unavailable_while_redis_is_down():
            if keys:
                self.client.delete(*(self._key(key) for key in keys))

    def increment(self, key: str, ttl_seconds: float) -> int:
        with _unavailable_while_redis_is_down():
            with self.client.pipeline(transaction=True) as pipe:
                pipe.incr(self._key(key))
                pipe.pexpire(self._key(key), _ms(ttl_seconds))
                count, _ = pipe.execute()
            return int(count)

    def set_field(self, name: str, field: str, value: str) -> None:
        with _unavailable_while_redis_is_down():
            self.client.hset(self._key(name), field, value)

    def fields(self, name: str) -> dict[str, str]:
        with _unavailable_while_redis_is_down():
            found = self.client.hgetall(self._key(name))
            return {str(k): str(v) for k, v in found.items()}

    def close(self) -> None:
        self.client.close()


def sync_redis_client(url: str) -> redis.Redis:
    """A blocking client for worker threads; every network wait is bounded, and a
    command is retried twice with backoff before Redis counts as down."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=2,
        socket_connect_timeout=1,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        health_check_interval=10,
    )


def shared_state(redis_url: str | None, prefix: str) -> SharedState:
    """Redis when ``redis_url`` is set, else the in-process state."""
    if redis_url:
        return RedisSharedState(sync_redis_client(redis_url), prefix)
    return InProcessSharedState()


def attach(sessions: sessionmaker[Session], state: SharedState) -> None:
    """Make ``state`` reachable from every session the factory makes."""
    sessions.configure(info={INFO_KEY: state})


def of(session: Session) -> SharedState | None:
    """The shared state attached to the session's factory, if any."""
    state: SharedState | None = session.info.get(INFO_KEY)
    return state


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def install(sessions: sessionmaker[Session], redis_url: str | None, prefix: str) -> SharedState:
    """The app's shared state, reachable from its sessions; the caller closes it."""
    state = shared_state(redis_url, prefix)
    attach(sessions, state)
    return state
