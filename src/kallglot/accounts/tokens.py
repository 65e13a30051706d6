"""Opaque secrets: 256 random bits, shown once, stored as SHA-256 digests."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32


def new_secret(prefix: str = "") -> str:
    """A URL-safe secret with 256 bits of randomness, optionally prefixed."""
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def digest(secret: str) -> str:
    """The stored form of a high-entropy secret (a fast hash suffices at 256 bits)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
