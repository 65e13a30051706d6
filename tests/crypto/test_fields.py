"""Encrypted columns: round trip, binding to (table, row, column), format, lookup hashes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kallglot.core.errors import ValidationFailedError
from kallglot.crypto import (
    DecryptionError,
    Keyring,
    decrypt_field,
    decrypt_text,
    encrypt_field,
    normalize_e164,
    phone_lookup_hash,
)
from tests.conftest import MigratedDatabase
from tests.crypto.scratch import add_note, make_org, notes


def test_text_and_bytes_round_trip_with_their_type(
    scratch: MigratedDatabase, keyring: Keyring
) -> None:
    with scratch.sessions.begin() as session:
        text = encrypt_field(session, "org_1", "t", "row_1", "c", "Grüße, Anna")
        raw = encrypt_field(session, "org_1", "t", "row_1", "d", b"\x00\xffbytes")
        assert decrypt_field(session, "t", "row_1", "c", text) == "Grüße, Anna"
        assert decrypt_field(session, "t", "row_1", "d", raw) == b"\x00\xffbytes"
        assert decrypt_text(session, "t", "row_1", "c", text) == "Grüße, Anna"


def test_ciphertext_is_versioned_and_never_repeats(
    scratch: MigratedDatabase, keyring: Keyring
) -> None:
    with scratch.sessions.begin() as session:
        first = encrypt_field(session, "org_1", "t", "row_1", "c", "same")
        second = encrypt_field(session, "org_1", "t", "row_1", "c", "same")
        assert first[:4] == b"KGE\x01"
        assert first != second
        with pytest.raises(DecryptionError, match="version"):
            decrypt_field(session, "t", "row_1", "c", b"KGE\x02" + first[4:])
        with pytest.raises(DecryptionError):
            decrypt_field(session, "t", "row_1", "c", b"plain text")


def test_ciphertext_copied_to_another_row_or_column_fails(
    scratch: MigratedDatabase, keyring: Keyring
) -> None:
    org = make_org(scratch)
    first = add_note(scratch, org, "first secret", phone="+4930123456")
    second = add_note(scratch, org, "second secret", phone="+4930654321")
    with scratch.sessions.begin() as session:
        rows = {row.id: row for row in session.execute(select(notes))}
        stolen = rows[first].body
        assert decrypt_text(session, "scratch_notes", first, "body", stolen) == "first secret"
        with pytest.raises(DecryptionError, match="moved"):
            decrypt_field(session, "scratch_notes", second, "body", stolen)
        with pytest.raises(DecryptionError):
            decrypt_field(session, "scratch_notes", first, "phone", stolen)
        with pytest.raises(DecryptionError):
            decrypt_field(session, "other_table", first, "body", stolen)


def test_tampered_ciphertext_fails(scratch: MigratedDatabase, keyring: Keyring) -> None:
    with scratch.sessions.begin() as session:
        sealed = bytearray(encrypt_field(session, "org_1", "t", "row_1", "c", "amount 100"))
        sealed[-20] ^= 1
        with pytest.raises(DecryptionError):
            decrypt_field(session, "t", "row_1", "c", bytes(sealed))


def test_phone_numbers_are_normalised_before_the_lookup_hash(
    scratch: MigratedDatabase, keyring: Keyring
) -> None:
    assert normalize_e164("+49 (30) 1234-567") == "+49301234567"
    assert normalize_e164("0049 30 1234567") == "+49301234567"
    with pytest.raises(ValidationFailedError):
        normalize_e164("030 1234567")
    org, other = make_org(scratch), make_org(scratch)
    with scratch.sessions.begin() as session:
        digest = phone_lookup_hash(session, org, "+49 30 1234567")
        assert digest == phone_lookup_hash(session, org, "0049301234567")
        assert digest != phone_lookup_hash(session, other, "+49301234567")
        assert digest != phone_lookup_hash(session, org, "+49301234568")
        assert "49301234567" not in digest


def test_a_row_is_found_by_phone_without_decrypting_every_row(
    scratch: MigratedDatabase, keyring: Keyring
) -> None:
    org = make_org(scratch)
    wanted = add_note(scratch, org, "caller A", phone="+44 20 7946 0000")
    add_note(scratch, org, "caller B", phone="+44 20 7946 0001")
    with scratch.sessions.begin() as session:
        digest = phone_lookup_hash(session, org, "+442079460000")
        found = session.execute(select(notes.c.id).where(notes.c.phone_hash == digest)).scalars()
        assert list(found) == [wanted]
