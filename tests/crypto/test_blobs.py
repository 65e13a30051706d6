"""The encrypted blob store: only ciphertext on disk, bound to the blob id, atomic writes."""

from __future__ import annotations

import shutil

import pytest

from kallglot.core.errors import NotFoundError
from kallglot.crypto import DecryptionError, EncryptedBlobStore, KeyDestroyedError, Keyring
from kallglot.crypto.blobs import LocalBlobBackend
from tests.conftest import MigratedDatabase


def test_blob_round_trip_stores_only_ciphertext(
    scratch: MigratedDatabase, keyring: Keyring, blob_store: EncryptedBlobStore
) -> None:
    audio = b"RIFF....WAVEfmt MARKER-RECORDING-7781" * 100
    with scratch.sessions.begin() as session:
        blob_id = blob_store.put(session, "org_1", audio)
        assert blob_store.get(session, blob_id) == audio
    assert isinstance(blob_store.backend, LocalBlobBackend)
    on_disk = blob_store.backend.path(blob_id).read_bytes()
    assert b"MARKER-RECORDING" not in on_disk
    assert on_disk.startswith(b"KGE\x01")


def test_blob_copied_under_another_id_fails(
    scratch: MigratedDatabase, keyring: Keyring, blob_store: EncryptedBlobStore
) -> None:
    with scratch.sessions.begin() as session:
        first = blob_store.put(session, "org_1", b"first document")
        second = blob_store.put(session, "org_1", b"second document")
    backend = blob_store.backend
    assert isinstance(backend, LocalBlobBackend)
    shutil.copyfile(backend.path(first), backend.path(second))
    with scratch.sessions.begin() as session, pytest.raises(DecryptionError):
        blob_store.get(session, second)


def test_delete_is_idempotent_and_a_missing_blob_is_not_found(
    scratch: MigratedDatabase, keyring: Keyring, blob_store: EncryptedBlobStore
) -> None:
    with scratch.sessions.begin() as session:
        blob_id = blob_store.put(session, "org_1", b"short-lived")
    assert blob_store.delete(blob_id) is True
    assert blob_store.delete(blob_id) is False
    with scratch.sessions.begin() as session, pytest.raises(NotFoundError):
        blob_store.get(session, blob_id)


def test_shredded_key_makes_blobs_unreadable(
    scratch: MigratedDatabase, keyring: Keyring, blob_store: EncryptedBlobStore
) -> None:
    with scratch.sessions.begin() as session:
        mine = blob_store.put(session, "org_1", b"subject's passport", subject_ref="usr_9")
        theirs = blob_store.put(session, "org_1", b"organization's contract")
    with scratch.sessions.begin() as session:
        keyring.destroy(session, "org_1", "usr_9")
    with scratch.sessions.begin() as session:
        with pytest.raises(KeyDestroyedError):
            blob_store.get(session, mine)
        assert blob_store.get(session, theirs) == b"organization's contract"


def test_a_failed_write_leaves_nothing_behind(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    backend = LocalBlobBackend(tmp_path / "blobs")
    with pytest.raises(TypeError):
        backend.write("blob_0123456789", "not bytes")  # type: ignore[arg-type]
    assert not backend.exists("blob_0123456789")
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []
    backend.write("blob_0123456789", b"whole")
    assert backend.read("blob_0123456789") == b"whole"
    assert [p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == ["blob_0123456789"]


def test_blob_ids_cannot_escape_the_folder(tmp_path: object) -> None:
    from pathlib import Path

    from kallglot.core.errors import ValidationFailedError

    assert isinstance(tmp_path, Path)
    with pytest.raises(ValidationFailedError):
        LocalBlobBackend(tmp_path).read("../../etc/passwd")  # outside-the-clone: refused
