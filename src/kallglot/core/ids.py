"""Public identifiers: a type prefix and a time-ordered ULID (``sess_01J…``)."""

from __future__ import annotations

import secrets

from ulid import ULID


def new_id(prefix: str) -> str:
    """A new, lexicographically time-ordered id such as ``org_01JD3…``."""
    return f"{prefix}_{ULID()}"


def new_token(prefix: str, nbytes: int = 32) -> str:
    """An opaque secret token with ``nbytes`` of randomness, e.g. ``kst_…``."""
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"
