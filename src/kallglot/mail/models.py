"""Outgoing mail that was not (or not yet) handed to an SMTP server."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kallglot.db.base import Base, IdMixin, TimestampMixin


class OutboxMessage(IdMixin, TimestampMixin, Base):
    __tablename__ = "mail_outbox"

    # The organization a mail was sent for (an invitation, a privacy request); ``None`` for mail
    # about the account itself. An organization's erasure touches only its own mail.
    organization_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # ``outbox``: no SMTP server configured; ``failed``: SMTP refused it; ``sent``: delivered.
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None]
