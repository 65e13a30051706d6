"""A scratch table standing in for another domain's table with encrypted columns."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, insert

from kallglot.accounts.models import Organization
from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.crypto import (
    EncryptedBlobStore,
    Keyring,
    LocalBlobBackend,
    LocalKeyWrapper,
    encrypt_field,
    install_keyring,
    phone_lookup_hash,
)
from kallglot.db.base import UTCDateTime
from tests.conftest import MigratedDatabase

scratch_metadata = MetaData()
notes = Table(
    "scratch_notes",
    scratch_metadata,
    Column("id", String(40), primary_key=True),
    Column("organization_id", String(40), nullable=False),
    Column("call_ref", String(40), nullable=True),
    Column("body", LargeBinary, nullable=False),
    Column("phone", LargeBinary, nullable=True),
    Column("phone_hash", String(64), nullable=True),
    Column("blob_id", String(40), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("n", Integer, nullable=True),
)


@pytest.fixture
def keyring() -> Iterator[Keyring]:
    ring = Keyring(LocalKeyWrapper(secrets.token_bytes(32)))
    install_keyring(ring)
    yield ring
    install_keyring(None)


@pytest.fixture
def scratch(database: MigratedDatabase) -> Iterator[MigratedDatabase]:
    scratch_metadata.create_all(database.engine)
    yield database
    scratch_metadata.drop_all(database.engine)


@pytest.fixture
def blob_store(keyring: Keyring, tmp_path: object) -> EncryptedBlobStore:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    return EncryptedBlobStore(LocalBlobBackend(tmp_path / "blobs"), keyring)


def make_org(database: MigratedDatabase, name: str = "Org") -> str:
    org_id = new_id("org")
    with database.sessions.begin() as session:
        session.add(Organization(id=org_id, name=name, slug=org_id.lower()))
    return org_id


def add_note(
    database: MigratedDatabase,
    organization_id: str,
    body: str,
    *,
    phone: str | None = None,
    call_ref: str | None = None,
    subject_ref: str | None = None,
    blob: tuple[EncryptedBlobStore, bytes] | None = None,
    created_at: datetime | None = None,
) -> str:
    """Insert a note the way a domain would: every personal value encrypted, bound to its row."""
    row_id = new_id("note")
    with database.sessions.begin() as session:
        values: dict[str, object] = {
            "id": row_id,
            "organization_id": organization_id,
            "call_ref": call_ref,
            "body": encrypt_field(
                session, organization_id, "scratch_notes", row_id, "body", body, subject_ref
            ),
            "created_at": created_at or utcnow(),
        }
        if phone is not None:
            values["phone"] = encrypt_field(
                session, organization_id, "scratch_notes", row_id, "phone", phone, subject_ref
            )
            values["phone_hash"] = phone_lookup_hash(session, organization_id, phone)
        if blob is not None:
            store, data = blob
            values["blob_id"] = store.put(session, organization_id, data, subject_ref=subject_ref)
        session.execute(insert(notes).values(**values))
    return row_id
