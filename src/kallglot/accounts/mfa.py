"""Second factors: TOTP with replay protection, and single-use recovery codes."""

from __future__ import annotations

import secrets
from datetime import datetime

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kallglot.accounts.models import RecoveryCode, User
from kallglot.accounts.tokens import digest, same
from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id

ISSUER = "Kallglot"
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_RECOVERY_GROUPS, _RECOVERY_GROUP_LENGTH = 4, 4  # 16 characters, about 79 bits


def new_totp_secret() -> str:
    return pyotp.random_base32(length=32)  # 160 bits, as RFC 4226 recommends


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def matching_step(secret: str, code: str, now: datetime, after_step: int | None) -> int | None:
    """The time step (now, or one either side for clock drift) whose code is ``code``.

    Steps at or before ``after_step`` are never accepted again: a code is good once.
    """
    code = code.replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if after_step is not None and step <= after_step:
            continue
        if same(totp.generate_otp(step), code):
            return step
    return None


def verify_totp(user: User, code: str, secret: str | None = None) -> bool:
    """Check a TOTP code for ``user`` and burn its time step (lock the user row first)."""
    secret = secret or user.totp_secret
    if secret is None:
        return False
    step = matching_step(secret, code, utcnow(), user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    return True


def _normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def new_recovery_codes(db: Session, user: User) -> list[str]:
    """Replace the user's recovery codes; the plain codes are returned once."""
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        groups = [
            "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_GROUP_LENGTH))
            for _ in range(_RECOVERY_GROUPS)
        ]
        code = "-".join(groups)
        codes.append(code)
        db.add(
            RecoveryCode(
                id=new_id("rcc"), user_id=user.id, code_hash=digest(_normalise_recovery_code(code))
            )
        )
    db.flush()
    return codes


def use_recovery_code(db: Session, user: User, code: str) -> bool:
    """Accept an unused recovery code once."""
    wanted = digest(_normalise_recovery_code(code))
    record = db.scalar(
        select(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == wanted,
            RecoveryCode.used_at.is_(None),
        )
        .with_for_update()
    )
    if record is None:
        return False
    record.used_at = utcnow()
    return True


def remaining_recovery_codes(db: Session, user_id: str) -> int:
    return len(
        db.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )
