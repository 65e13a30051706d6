"""Errors of encryption at rest (subclasses of the one hierarchy in ``kallglot.core.errors``)."""

from __future__ import annotations

from kallglot.core.errors import KallglotError


class DecryptionError(KallglotError):
    """A ciphertext cannot be decrypted: tampered, moved to another row, or of unknown format."""

    status_code = 500
    error_type = "api_error"
    code = "decryption_failed"


class KeyUnavailableError(DecryptionError):
    """The data key's wrapping master key is not configured (retired too early?)."""

    code = "master_key_unavailable"


class KeyDestroyedError(KallglotError):
    """The data key was destroyed (crypto-shredding): the data it protected is erased for good."""

    status_code = 410
    error_type = "invalid_request_error"
    code = "data_erased"
