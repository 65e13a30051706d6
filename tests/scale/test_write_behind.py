"""Replaying the local call-write queue: a write the database refuses (not one it could not
reach) is set aside, kept, and does not hold up the writes queued after it."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from kallglot.crypto.wrapping import LocalKeyWrapper
from kallglot.scale.outbox import LocalQueue, WriteBehind


class Database:
    """Takes writes in the order they come, refuses the ones marked bad, or is down."""

    def __init__(self) -> None:
        self.landed: list[str] = []
        self.down = False

    def apply(self, payload: dict[str, Any]) -> None:
        if self.down:
            raise OperationalError("INSERT", {}, ConnectionRefusedError())
        if payload.get("bad"):
            raise IntegrityError("INSERT", {}, ValueError("violates a constraint"))
        self.landed.append(payload["id"])


@pytest.fixture
def queue(tmp_path: Path) -> LocalQueue:
    return LocalQueue(tmp_path / "call-writes.sqlite3", LocalKeyWrapper(secrets.token_bytes(32)))


def test_a_refused_write_is_set_aside_and_the_later_ones_land_in_order(
    queue: LocalQueue,
) -> None:
    database = Database()
    writes = WriteBehind(queue, {"turn": database.apply})
    database.down = True
    for payload in (
        {"id": "a1"},
        {"id": "a2", "bad": True},
        {"id": "a3"},
    ):
        assert writes.write("call_a", "turn", payload) is False  # queued: the database is down
    writes.write("call_b", "turn", {"id": "b1"})
    assert writes.drain() == 0 and len(queue) == 4  # still down: nothing lost, nothing refused

    database.down = False
    assert writes.drain() == 3
    assert database.landed == ["a1", "a3", "b1"]
    assert len(queue) == 0
    assert [(e.call_id, e.payload) for e in queue.refused()] == [
        ("call_a", {"id": "a2", "bad": True})
    ]
    # Later writes of the call are applied at once again (nothing is pending for it).
    assert writes.write("call_a", "turn", {"id": "a4"}) is True
    assert database.landed[-1] == "a4"
