"""Call writes that outlive a database outage: applied now, or queued durably and retried.

A live call must not stop because PostgreSQL is briefly unreachable. Each write
(a transcript turn, a timing, a status change…) is tried against the database at
once; when the database is down it is appended to a local SQLite file under the
var dir instead, and a background task replays the file, oldest first, until every
entry has landed. Per call, order is kept: once a call has queued entries its later
writes queue behind them, and a write and a replay of the same call never overlap.

Exactly once: every payload carries the ids it will insert, and every applier skips
rows that already exist, so an entry replayed after a crash between "landed" and
"removed from the file" lands once. Payloads (transcript text among them) are sealed
with AES-256-GCM under the file's own data key, which is stored wrapped by the master key
(the database, where the organizations' keys live, may be the thing that is down); the
file is created ``0600`` and SQLite's ``secure_delete`` overwrites removed rows.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from kallglot.core.threads import run_to_completion
from kallglot.crypto.envelope import context_bytes, open_envelope, parse, seal
from kallglot.crypto.wrapping import KeyWrapper

logger = logging.getLogger(__name__)

# What an unreachable database raises through SQLAlchemy (refused, reset, timed out).
DATABASE_DOWN = (OperationalError, InterfaceError)
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)

Payload = dict[str, Any]
Applier = Callable[[Payload], None]

_QUEUE_KEY_CONTEXT = context_bytes("kallglot call-write queue key", "v1")


def _payload_context(call_id: str, kind: str) -> bytes:
    """What a sealed payload is bound to: moved to another call or kind, it fails to open."""
    return context_bytes("call-write", call_id, kind)


@dataclass(frozen=True)
class Entry:
    sequence: int
    call_id: str
    kind: str
    payload: Payload


class LocalQueue:
    """An append-only SQLite file of pending writes; safe to use from several threads."""

    def __init__(self, path: Path, wrapper: KeyWrapper) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        os.chmod(path, 0o600)
        self._lock = threading.Lock()
        with self._connection() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS entries ("
                " sequence INTEGER PRIMARY KEY AUTOINCREMENT,"
                " call_id TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS entries_call ON entries (call_id)")
            # Entries the database refused for a reason other than being down (kept for
            # an operator, so one bad entry cannot hold up every call's writes behind it).
            db.execute(
                "CREATE TABLE IF NOT EXISTS refused ("
                " sequence INTEGER PRIMARY KEY, call_id TEXT NOT NULL, kind TEXT NOT NULL,"
                " payload TEXT NOT NULL, error TEXT NOT NULL)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS queue_key ("
                " id INTEGER PRIMARY KEY CHECK (id = 1),"
                " master_key_id TEXT NOT NULL, wrapped BLOB NOT NULL)"
            )
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT master_key_id, wrapped FROM queue_key").fetchone()
            if row is None:
                self._key = secrets.token_bytes(32)
                wrapped = wrapper.wrap(self._key, context=_QUEUE_KEY_CONTEXT)
                db.execute(
                    "INSERT INTO queue_key (id, master_key_id, wrapped) VALUES (1, ?, ?)",
                    (wrapped.master_key_id, wrapped.wrapped),
                )
            else:
                self._key = wrapper.unwrap(row[1], master_key_id=row[0], context=_QUEUE_KEY_CONTEXT)
                if row[0] != wrapper.current_key_id:  # rewrapped after a master key rotation
                    wrapped = wrapper.wrap(self._key, context=_QUEUE_KEY_CONTEXT)
                    db.execute(
                        "UPDATE queue_key SET master_key_id = ?, wrapped = ?",
                        (wrapped.master_key_id, wrapped.wrapped),
                    )
            db.execute("COMMIT")

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            try:
                db.execute("PRAGMA synchronous=FULL")  # an acknowledged entry survives a crash
                db.execute("PRAGMA secure_delete=ON")
                yield db
            finally:
                db.close()

    def _seal(self, call_id: str, kind: str, payload: Payload) -> bytes:
        context = _payload_context(call_id, kind)
        return seal(self._key, "call-write-queue", json.dumps(payload), context)

    def _entry(self, row: tuple[int, str, str, bytes | str]) -> Entry:
        sequence, call_id, kind, stored = row
        if isinstance(stored, str):  # queued in clear by a version before sealing
            return Entry(sequence, call_id, kind, json.loads(stored))
        payload = open_envelope(self._key, parse(stored), _payload_context(call_id, kind))
        return Entry(sequence, call_id, kind, json.loads(payload))

    def append(self, call_id: str, kind: str, payload: Payload) -> None:
        with self._connection() as db:
            db.execute(
                "INSERT INTO entries (call_id, kind, payload) VALUES (?, ?, ?)",
                (call_id, kind, self._seal(call_id, kind, payload)),
            )

    def oldest(self, limit: int = 100) -> list[Entry]:
        with self._connection() as db:
            rows = db.execute(
                "SELECT sequence, call_id, kind, payload FROM entries ORDER BY sequence LIMIT ?",
                (limit,),
            ).fetchall()
        return [self._entry(row) for row in rows]

    def remove(self, sequence: int) -> None:
        with self._connection() as db:
            db.execute("DELETE FROM entries WHERE sequence = ?", (sequence,))

    def refuse(self, entry: Entry, error: str) -> None:
        """Move an entry the database will never take out of the way, keeping it."""
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT INTO refused (sequence, call_id, kind, payload, error)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    entry.sequence,
                    entry.call_id,
                    entry.kind,
                    self._seal(entry.call_id, entry.kind, entry.payload),
                    error,
                ),
            )
            db.execute("DELETE FROM entries WHERE sequence = ?", (entry.sequence,))
            db.execute("COMMIT")

    def refused(self) -> list[Entry]:
        with self._connection() as db:
            rows = db.execute(
                "SELECT sequence, call_id, kind, payload FROM refused ORDER BY sequence"
            ).fetchall()
        return [self._entry(row) for row in rows]

    def has_pending(self, call_id: str) -> bool:
        with self._connection() as db:
            found = db.execute("SELECT 1 FROM entries WHERE call_id = ? LIMIT 1", (call_id,))
            return found.fetchone() is not None

    def __len__(self) -> int:
        with self._connection() as db:
            count: int = db.execute("SELECT count(*) FROM entries").fetchone()[0]
            return count


class WriteBehind:
    """Apply call writes to the database, falling back to the local queue while it is down.

    ``write`` and ``drain`` block (database and file I/O): run them in worker threads.
    """

    def __init__(self, queue: LocalQueue, appliers: Mapping[str, Applier]) -> None:
        self.queue = queue
        self.appliers = dict(appliers)
        self._call_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._drain_lock = threading.Lock()

    def _call_lock(self, call_id: str) -> threading.Lock:
        with self._locks_lock:
            return self._call_locks.setdefault(call_id, threading.Lock())

    def write(self, call_id: str, kind: str, payload: Payload) -> bool:
        """Apply now, or queue durably; ``True`` if it landed in the database already."""
        with self._call_lock(call_id):
            if not self.queue.has_pending(call_id):
                try:
                    self.appliers[kind](payload)
                    return True
                except DATABASE_DOWN:
                    logger.warning("database unavailable; call write queued", extra={"kind": kind})
            self.queue.append(call_id, kind, payload)
            return False

    def forget(self, call_id: str) -> None:
        """Drop the call's lock once it has ended (a replay makes a new one if needed)."""
        with self._locks_lock:
            self._call_locks.pop(call_id, None)

    def drain(self) -> int:
        """Replay queued writes oldest first until the queue is empty or the database is
        still down; returns how many landed."""
        landed = 0
        with self._drain_lock:
            while entries := self.queue.oldest():
                for entry in entries:
                    with self._call_lock(entry.call_id):
                        try:
                            self.appliers[entry.kind](entry.payload)
                        except DATABASE_DOWN:
                            return landed
                        except Exception as error:
                            logger.exception("queued call write refused; set aside")
                            self.queue.refuse(entry, repr(error))
                            continue
                        self.queue.remove(entry.sequence)
                    landed += 1
        return landed

    async def run(self, interval_s: float = 1.0) -> None:
        """Drain in the background: every ``interval_s``, sooner-then-slower while it fails."""
        failures = 0
        while True:
            try:
                await run_to_completion(self.drain)
                failures = 0 if await asyncio.to_thread(len, self.queue) == 0 else failures + 1
            except Exception:
                logger.exception("replaying queued call writes failed")
                failures += 1
            delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)] if failures else interval_s
            await asyncio.sleep(min(delay, interval_s))
