"""The local call-write queue keeps what it holds sealed: no transcript text in clear on
disk, readable again after a restart with the same master key, and never with another."""

from __future__ import annotations

import json
import secrets
import sqlite3
from pathlib import Path

import pytest

from kallglot.crypto.errors import DecryptionError, KeyUnavailableError
from kallglot.crypto.wrapping import LocalKeyWrapper
from kallglot.scale.outbox import LocalQueue

TURN = {"id": "turn_1", "text": "Necesito cambiar mi reserva para el martes", "language": "es"}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "call-writes.sqlite3"


def test_entries_are_sealed_on_disk_and_read_back_after_a_restart(path: Path) -> None:
    master = secrets.token_bytes(32)
    queue = LocalQueue(path, LocalKeyWrapper(master))
    queue.append("sess_1", "turn", TURN)
    queue.refuse(queue.oldest()[0], "IntegrityError")
    queue.append("sess_1", "turn", {**TURN, "id": "turn_2"})

    raw = path.read_bytes()
    assert b"reserva" not in raw and b"martes" not in raw

    reopened = LocalQueue(path, LocalKeyWrapper(master))
    assert [entry.payload for entry in reopened.oldest()] == [{**TURN, "id": "turn_2"}]
    assert [entry.payload for entry in reopened.refused()] == [TURN]


def test_another_master_key_cannot_open_the_queue(path: Path) -> None:
    LocalQueue(path, LocalKeyWrapper(secrets.token_bytes(32))).append("sess_1", "turn", TURN)
    with pytest.raises(KeyUnavailableError):
        LocalQueue(path, LocalKeyWrapper(secrets.token_bytes(32)))


def test_after_a_master_key_rotation_the_queue_moves_to_the_new_key(path: Path) -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    LocalQueue(path, LocalKeyWrapper(old)).append("sess_1", "turn", TURN)
    LocalQueue(path, LocalKeyWrapper(new, previous=[old]))  # rewraps its key under the new one
    reopened = LocalQueue(path, LocalKeyWrapper(new))  # the old key is retired
    assert [entry.payload for entry in reopened.oldest()] == [TURN]


def test_an_entry_moved_to_another_call_fails_authentication(path: Path) -> None:
    queue = LocalQueue(path, LocalKeyWrapper(secrets.token_bytes(32)))
    queue.append("sess_1", "turn", TURN)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE entries SET call_id = 'sess_2'")
    with pytest.raises(DecryptionError):
        queue.oldest()


def test_entries_queued_in_clear_by_an_earlier_version_are_still_replayed(path: Path) -> None:
    queue = LocalQueue(path, LocalKeyWrapper(secrets.token_bytes(32)))
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO entries (call_id, kind, payload) VALUES (?, ?, ?)",
            ("sess_1", "turn", json.dumps(TURN)),
        )
    assert [entry.payload for entry in queue.oldest()] == [TURN]
