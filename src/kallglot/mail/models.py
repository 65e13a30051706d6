"""Outgoing mail that was not (or not yet) handed to an SMTP server."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from kallglot.db.base import Base, IdMixin, TimestampMixin


class OutboxMessage(IdMixin, TimestampMixin, Base):
    __tablename__ = "mail_outbox"

    # The organization a mail was sent for (an invitation, a privacy request); ``None`` for mail
    # about the account itself. An organization's erasure touches only its own mail.
    organization_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    # The address and the body, encrypted and bound to this row (``kallglot.mail.read``); the
    # address's keyed lookup hash finds a person's mail. The body never holds a live secret
    # (``secret_ref`` computes it back), and goes a while after delivery.
    to_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    to_hash: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    body_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    secret_ref: Mapped[str | None] = mapped_column(String(120))
    # ``outbox``: no SMTP server configured; ``failed``: SMTP refused it; ``sent``: delivered.
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None]
