"""Encrypting columns, and keyed hashes for looking encrypted values up."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any, overload

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session, object_session

from kallglot.core.errors import ValidationFailedError
from kallglot.crypto.envelope import context_bytes, open_envelope, parse, seal
from kallglot.crypto.keyring import Keyring, get_keyring

# Data that belongs to no organization (an account's own secrets, mail about an account) is
# encrypted under this scope's data key.
PLATFORM_SCOPE = "platform"
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_PHONE_PUNCTUATION = re.compile(r"[\s().\-/]")


def field_context(table: str, row_id: str, column: str) -> bytes:
    return context_bytes("field", table, row_id, column)


def encrypt_field(
    session: Session,
    organization_id: str,
    table: str,
    row_id: str,
    column: str,
    plaintext: str | bytes,
    subject_ref: str | None = None,
    *,
    keyring: Keyring | None = None,
) -> bytes:
    """Encrypt a value for ``table.column`` of row ``row_id`` under the organization's data key
    (or the subject's, when ``subject_ref`` is given, so that it can be erased alone).

    The result is bound to (table, row id, column): stored anywhere else it will not decrypt.
    """
    handle = (keyring or get_keyring()).data_key(session, organization_id, subject_ref)
    return seal(handle.key, handle.id, plaintext, field_context(table, row_id, column))


def decrypt_field(
    session: Session,
    table: str,
    row_id: str,
    column: str,
    ciphertext: bytes,
    *,
    keyring: Keyring | None = None,
) -> str | bytes:
    """Decrypt what :func:`encrypt_field` produced; returns ``str`` if a ``str`` was encrypted.

    Raises ``KeyDestroyedError`` (410 ``data_erased``) after crypto-shredding and
    ``DecryptionError`` if the value was tampered with or moved.
    """
    envelope = parse(ciphertext)
    key = (keyring or get_keyring()).key_by_id(session, envelope.key_id)
    return open_envelope(key, envelope, field_context(table, row_id, column))


def decrypt_text(
    session: Session,
    table: str,
    row_id: str,
    column: str,
    ciphertext: bytes,
    *,
    keyring: Keyring | None = None,
) -> str:
    """:func:`decrypt_field` for a column that always holds text."""
    value = decrypt_field(session, table, row_id, column, ciphertext, keyring=keyring)
    return value if isinstance(value, str) else value.decode()


def normalize_e164(raw: str) -> str:
    """``+49 (30) 1234-567`` and ``0049 301234567`` both become ``+49301234567``."""
    compact = _PHONE_PUNCTUATION.sub("", raw.strip())
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not _E164.match(compact):
        raise ValidationFailedError(
            "phone number must be in international format (+ and country code)", param="phone"
        )
    return compact


def normalize_email(raw: str) -> str:
    value = raw.strip().lower()
    if "@" not in value:
        raise ValidationFailedError("not an email address", param="email")
    return value


def lookup_hash(
    session: Session,
    organization_id: str,
    purpose: str,
    value: str,
    *,
    keyring: Keyring | None = None,
) -> str:
    """HMAC-SHA256 of an already normalised value under a key derived from the organization's
    data key; hex, to store in an indexed column beside the ciphertext.

    Equal values in one organization hash equally (so they can be looked up); the hash says
    nothing without the key, and crypto-shredding the organization makes it meaningless.
    """
    handle = (keyring or get_keyring()).data_key(session, organization_id)
    lookup_key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"kallglot lookup v1\x00" + purpose.encode(),
    ).derive(handle.key)
    return hmac.new(lookup_key, value.encode(), hashlib.sha256).hexdigest()


def phone_lookup_hash(
    session: Session, organization_id: str, phone: str, *, keyring: Keyring | None = None
) -> str:
    """The lookup hash of a phone number, normalised to E.164 first."""
    return lookup_hash(session, organization_id, "phone", normalize_e164(phone), keyring=keyring)


def email_lookup_hash(
    session: Session, organization_id: str, email: str, *, keyring: Keyring | None = None
) -> str:
    return lookup_hash(session, organization_id, "email", normalize_email(email), keyring=keyring)


class EncryptedAttribute:
    """A model attribute kept encrypted in another mapped column (``stored``), bound to the
    row (table, id, attribute name), under the data key of ``scope`` — or, with
    ``organization_attribute``, of the organization the row names there.

    ``user.totp_secret = secret`` encrypts, ``user.totp_secret`` decrypts; both need the object
    to be in a session (the data key is read through it).
    """

    def __init__(
        self,
        stored: str,
        *,
        scope: str = PLATFORM_SCOPE,
        organization_attribute: str | None = None,
    ) -> None:
        self.stored, self.scope, self.organization_attribute = stored, scope, organization_attribute
        self.name = self.table = ""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name, self.table = name, str(owner.__tablename__)

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> EncryptedAttribute: ...

    @overload
    def __get__(self, obj: object, owner: type[Any]) -> str | None: ...

    def __get__(self, obj: object | None, owner: type[Any]) -> EncryptedAttribute | str | None:
        if obj is None:
            return self
        sealed: bytes | None = getattr(obj, self.stored)
        if sealed is None:
            return None
        return decrypt_text(_session_of(obj), self.table, _row_id(obj), self.name, sealed)

    def __set__(self, obj: object, value: str | None) -> None:
        sealed = None
        if value is not None:
            scope = self.scope
            if self.organization_attribute is not None:
                scope = str(getattr(obj, self.organization_attribute))
            session = _session_of(obj)
            # A new row waits in the session without its sealed value: flushing it while the
            # data key is read would insert it with that column still empty.
            with session.no_autoflush:
                sealed = encrypt_field(session, scope, self.table, _row_id(obj), self.name, value)
        setattr(obj, self.stored, sealed)


def _session_of(obj: object) -> Session:
    session = object_session(obj)
    if session is None:
        raise RuntimeError(f"{type(obj).__name__} must be in a session to read or write secrets")
    return session


def _row_id(obj: object) -> str:
    return str(getattr(obj, "id", ""))
