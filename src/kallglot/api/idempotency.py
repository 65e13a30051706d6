"""``Idempotency-Key`` on POST: the same key and body replay the stored response.

As in the public Kallglot API, a key is scoped to the caller's organization (two
API keys of one organization share its keys); the same key with a different body
is refused ``400 idempotency_mismatch``, and while the first request is still
running ``409 idempotency_conflict``. Bodies are compared as JSON (key order and
spacing do not matter). Server errors are not stored, so a retry after a 5xx runs
again.

Keys and stored responses live in the database, or, with several nodes sharing
Redis (:mod:`kallglot.infra.shared_state`), in Redis: there the claim is one atomic
``SET NX``, so two nodes given the same key at once run the request once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import anyio.to_thread
from sqlalchemy import LargeBinary, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kallglot.api.caller import caller_of, header
from kallglot.api.errors import error_body, send_json
from kallglot.core.clock import utcnow
from kallglot.core.errors import KallglotError
from kallglot.core.ids import new_id
from kallglot.db.base import Base, IdMixin, TimestampMixin
from kallglot.db.engine import transaction
from kallglot.infra.shared_state import SharedState

logger = logging.getLogger(__name__)

HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 255
REPLAY_HEADER = b"idempotent-replayed"


class IdempotencyRecord(IdMixin, TimestampMixin, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    content_type: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    completed_at: Mapped[datetime | None]


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    content_type: str | None
    body: bytes


@dataclass(frozen=True)
class _Claim:
    """Outcome of trying to claim a key: run the request, replay, or refuse."""

    record_id: str | None = None
    replay: StoredResponse | None = None
    refusal: tuple[int, str, str] | None = None


_MISMATCH = (
    400,
    "idempotency_mismatch",
    "This Idempotency-Key was already used with a different request.",
)
_IN_PROGRESS = (
    409,
    "idempotency_conflict",
    "A request with this Idempotency-Key is still being processed.",
)


class IdempotencyStore(Protocol):
    """Where claims and responses live; both methods block (run them in a thread)."""

    def claim(self, caller_scope: str, key: str, fingerprint: str) -> _Claim: ...

    def finish(self, record_id: str, status: int, content_type: str | None, body: bytes) -> None:
        """Store the response for replay, or release the key after a server error."""


class IdempotencyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        sessions: sessionmaker[Session],
        ttl: timedelta,
        shared: SharedState | None = None,
    ) -> None:
        """With ``shared`` (several nodes on Redis) keys live there, else in the database."""
        self.app = app
        self.store: IdempotencyStore = (
            DatabaseIdempotencyStore(sessions, ttl)
            if shared is None
            else SharedIdempotencyStore(shared, ttl)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = header(scope, HEADER)
        if scope["type"] != "http" or scope["method"] != "POST" or key is None:
            await self.app(scope, receive, send)
            return
        if not key or len(key) > MAX_KEY_LENGTH:
            await send_json(
                send,
                400,
                error_body(
                    "invalid_request_error",
                    "invalid_idempotency_key",
                    f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.",
                    "Idempotency-Key",
                ),
            )
            return
        body = await _read_body(receive)
        fingerprint = hashlib.sha256(
            scope["method"].encode() + b" " + scope["path"].encode() + b"\n" + _canonical(body)
        ).hexdigest()
        caller_scope = await _caller_scope(scope)
        try:
            claim = await anyio.to_thread.run_sync(self.store.claim, caller_scope, key, fingerprint)
        except KallglotError as exc:  # the shared state is down: refuse, never run unguarded
            retry = [(b"retry-after", str(exc.retry_after).encode())] if exc.retry_after else None
            await send_json(
                send, exc.status_code, error_body(exc.error_type, exc.code, exc.message), retry
            )
            return
        if claim.refusal is not None:
            status, code, message = claim.refusal
            body_json = error_body("invalid_request_error", code, message, "Idempotency-Key")
            retry = [(b"retry-after", b"1")] if code == "idempotency_conflict" else None
            await send_json(send, status, body_json, retry)
            return
        if claim.replay is not None:
            await _replay(send, claim.replay)
            return
        assert claim.record_id is not None
        await self._run_and_store(scope, body, send, claim.record_id)

    async def _run_and_store(self, scope: Scope, body: bytes, send: Send, record_id: str) -> None:
        delivered = False

        async def replay_receive() -> Message:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 500
        content_type: str | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        finally:
            try:
                await anyio.to_thread.run_sync(
                    self.store.finish, record_id, status, content_type, b"".join(chunks)
                )
            except KallglotError:
                # The response is sent; a retry meets the claim until it lapses.
                logger.warning("idempotent response not stored: shared state unavailable")


class DatabaseIdempotencyStore:
    def __init__(self, sessions: sessionmaker[Session], ttl: timedelta) -> None:
        self.sessions = sessions
        self.ttl = ttl

    def claim(self, caller_scope: str, key: str, fingerprint: str) -> _Claim:
        now = utcnow()
        with transaction(self.sessions) as session:
            session.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - self.ttl)
            )
        try:
            with transaction(self.sessions) as session:
                record = IdempotencyRecord(
                    id=new_id("idk"), scope=caller_scope, key=key, fingerprint=fingerprint
                )
                session.add(record)
            return _Claim(record_id=record.id)
        except IntegrityError:
            pass
        with self.sessions() as session:
            existing = session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.scope == caller_scope, IdempotencyRecord.key == key
                )
            )
        if existing is None:
            # The other request failed and released the key between our two statements.
            return self.claim(caller_scope, key, fingerprint)
        if existing.fingerprint != fingerprint:
            return _Claim(refusal=_MISMATCH)
        if existing.completed_at is None or existing.status_code is None:
            return _Claim(refusal=_IN_PROGRESS)
        return _Claim(
            replay=StoredResponse(existing.status_code, existing.content_type, existing.body or b"")
        )

    def finish(self, record_id: str, status: int, content_type: str | None, body: bytes) -> None:
        with transaction(self.sessions) as session:
            record = session.get(IdempotencyRecord, record_id)
            if record is None:
                return
            if status >= 500:
                session.delete(record)
                return
            record.status_code = status
            record.content_type = content_type
            record.body = body
            record.completed_at = utcnow()


class SharedIdempotencyStore:
    """Claims are ``SET NX`` locks; the finished response replaces the lock.

    A claim whose request never finishes (its node died) lapses after
    ``LOCK_SECONDS``, so the key can be retried rather than stay in conflict forever.
    """

    LOCK_SECONDS = 300.0

    def __init__(self, state: SharedState, ttl: timedelta) -> None:
        self.state = state
        self.ttl_seconds = ttl.total_seconds()

    def claim(self, caller_scope: str, key: str, fingerprint: str) -> _Claim:
        record_id = f"idempotency:{caller_scope}:{key}"
        pending = json.dumps({"fingerprint": fingerprint})
        while True:
            if self.state.claim(record_id, pending, self.LOCK_SECONDS):
                return _Claim(record_id=record_id)
            found = self.state.get(record_id)
            if found is not None:
                break
            # The holder failed and released the key between our two commands: claim again.
        existing = json.loads(found)
        if existing["fingerprint"] != fingerprint:
            return _Claim(refusal=_MISMATCH)
        if "status_code" not in existing:
            return _Claim(refusal=_IN_PROGRESS)
        return _Claim(
            replay=StoredResponse(
                existing["status_code"],
                existing["content_type"],
                base64.b64decode(existing["body"]),
            )
        )

    def finish(self, record_id: str, status: int, content_type: str | None, body: bytes) -> None:
        if status >= 500:
            self.state.delete(record_id)
            return
        pending = self.state.get(record_id)
        fingerprint = json.loads(pending)["fingerprint"] if pending is not None else ""
        stored = {
            "fingerprint": fingerprint,
            "status_code": status,
            "content_type": content_type,
            "body": base64.b64encode(body).decode(),
        }
        self.state.put(record_id, json.dumps(stored), self.ttl_seconds)


async def _caller_scope(scope: Scope) -> str:
    """The caller's organization; without a live credential, a digest of what was sent
    (such a request is refused by the route, and its refusal is replayed only to the same)."""
    caller = await caller_of(scope)
    if caller is not None:
        return caller.organization_id
    sent = header(scope, b"authorization") or header(scope, b"x-api-key")
    sent = sent or header(scope, b"cookie") or "anonymous"
    return hashlib.sha256(sent.encode()).hexdigest()


def _canonical(body: bytes) -> bytes:
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        return body


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _replay(send: Send, record: StoredResponse) -> None:
    body = record.body
    headers = [(b"content-length", str(len(body)).encode()), (REPLAY_HEADER, b"true")]
    if record.content_type:
        headers.append((b"content-type", record.content_type.encode()))
    await send({"type": "http.response.start", "status": record.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
