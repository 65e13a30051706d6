"""Secrets that mail carries (reset and invitation links, verification codes) that the
database never holds.

A mailed secret is computed from a reference stored with the mail (``purpose:row id``) by a
keyed hash under the platform's data key, which only the master key unwraps; the row the
secret unlocks keeps only its digest. A copy of the database without the master key — a dump,
a stolen backup — holds neither the secret nor what it takes to compute it. The body is stored
with :data:`SECRET` where the secret goes, and the secret is put back only on the way out
(SMTP) or on screen for an operator of this installation (``kallglot mail outbox``).
"""

from __future__ import annotations

import base64

from sqlalchemy.orm import Session

from kallglot.crypto import PLATFORM_SCOPE, lookup_hash

SECRET = "[[secret]]"  # noqa: S105 (where the secret goes, not a secret)
# A reference starting with this yields a six-digit code rather than a 256-bit token.
CODE = "code:"


def mailed_secret(db: Session, ref: str) -> str:
    """The secret for ``ref``: a URL-safe 256-bit token, or six digits for ``code:`` refs."""
    digest = bytes.fromhex(lookup_hash(db, PLATFORM_SCOPE, "mailed secret", ref))
    if ref.startswith(CODE):
        return f"{int.from_bytes(digest[:8], 'big') % 10**6:06d}"
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def render(db: Session, body: str, ref: str | None) -> str:
    """The body as the recipient reads it: the secret in place of :data:`SECRET`."""
    return body if ref is None else body.replace(SECRET, mailed_secret(db, ref))
