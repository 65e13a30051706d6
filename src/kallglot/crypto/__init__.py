"""Encryption at rest: envelope encryption with per-organization (and per-subject) data keys.

Other domains use the helpers re-exported here; see ``docs/privacy.md``.
"""

from kallglot.crypto.blobs import BlobBackend, EncryptedBlobStore, LocalBlobBackend
from kallglot.crypto.errors import DecryptionError, KeyDestroyedError, KeyUnavailableError
from kallglot.crypto.fields import (
    PLATFORM_SCOPE,
    EncryptedAttribute,
    decrypt_field,
    decrypt_text,
    email_lookup_hash,
    encrypt_field,
    lookup_hash,
    normalize_e164,
    normalize_email,
    phone_lookup_hash,
)
from kallglot.crypto.keyring import DataKeyHandle, Keyring, get_keyring, install_keyring
from kallglot.crypto.wrapping import KeyWrapper, LocalKeyWrapper, WrappedKey

__all__ = [
    "PLATFORM_SCOPE",
    "BlobBackend",
    "DataKeyHandle",
    "DecryptionError",
    "EncryptedAttribute",
    "EncryptedBlobStore",
    "KeyDestroyedError",
    "KeyUnavailableError",
    "KeyWrapper",
    "Keyring",
    "LocalBlobBackend",
    "LocalKeyWrapper",
    "WrappedKey",
    "decrypt_field",
    "decrypt_text",
    "email_lookup_hash",
    "encrypt_field",
    "get_keyring",
    "install_keyring",
    "lookup_hash",
    "normalize_e164",
    "normalize_email",
    "phone_lookup_hash",
]
