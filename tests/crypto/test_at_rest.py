"""Reads the raw database (SQLite file bytes, PostgreSQL rows) and the blob files: no plaintext."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from kallglot.crypto import EncryptedBlobStore, Keyring
from kallglot.crypto.blobs import LocalBlobBackend
from tests.conftest import MigratedDatabase
from tests.crypto.scratch import add_note, make_org

MARKERS = [
    "MARKER-TRANSCRIPT-Quokka-5521",
    "+4915799990042",
    "MARKER-KYC-IBAN-DE89370400440532013000",
]


def raw_database_bytes(database: MigratedDatabase) -> bytes:
    if database.backend == "sqlite":
        path = Path(str(make_url(database.url).database))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    chunks = []
    with database.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            rows = connection.execute(text(f'SELECT t::text FROM "{table}" AS t')).scalars()
            chunks.extend(row.encode() for row in rows)
    return b"\n".join(chunks)


def test_no_plaintext_in_the_raw_database_or_blob_files(
    scratch: MigratedDatabase, keyring: Keyring, blob_store: EncryptedBlobStore
) -> None:
    org = make_org(scratch)
    add_note(
        scratch,
        org,
        MARKERS[0],
        phone=MARKERS[1],
        blob=(blob_store, MARKERS[2].encode() * 10),
        subject_ref="usr_marker",
    )
    raw = raw_database_bytes(scratch)
    assert b"scratch_notes" in raw or scratch.backend == "postgresql"
    assert len(raw) > 0
    backend = blob_store.backend
    assert isinstance(backend, LocalBlobBackend)
    blob_bytes = b"".join(p.read_bytes() for p in backend.root.rglob("*") if p.is_file())
    assert blob_bytes
    for marker in MARKERS:
        for encoded in (marker.encode(), marker.encode().hex().encode(), marker[1:].encode()):
            assert encoded not in raw, marker
            assert encoded not in blob_bytes, marker


def test_no_plaintext_in_the_logs(
    scratch: MigratedDatabase,
    keyring: Keyring,
    blob_store: EncryptedBlobStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from datetime import UTC, datetime

    from kallglot.privacy.retention import PurgeRegistry, run_purge

    caplog.set_level(logging.DEBUG)
    org = make_org(scratch)
    add_note(
        scratch, org, MARKERS[0], phone=MARKERS[1], created_at=datetime(2020, 1, 1, tzinfo=UTC)
    )
    with scratch.sessions.begin() as session:
        keyring.destroy_all(session, org)
    run_purge(scratch.sessions, registry=PurgeRegistry.with_builtin_classes())
    assert "retention purge finished" in caplog.text
    for marker in MARKERS:
        assert marker not in caplog.text
