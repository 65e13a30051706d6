"""Sending mail. Nothing is ever dropped: without SMTP, or when SMTP refuses, the message
stays in the outbox table, where ``kallglot mail outbox`` shows it."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy.orm import Session

from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings
from kallglot.mail.models import OutboxMessage

logger = logging.getLogger(__name__)
SMTP_TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    # The organization the mail is sent for; ``None`` for mail about the account itself.
    organization_id: str | None = None


def send(db: Session, settings: Settings, mail: Mail) -> OutboxMessage:
    """Send ``mail`` (SMTP if configured) and keep a record of it in the outbox table."""
    message = OutboxMessage(
        id=new_id("msg"),
        organization_id=mail.organization_id,
        to_address=mail.to,
        subject=mail.subject[:300],
        body=mail.body,
        status="outbox",
    )
    if settings.smtp_host:
        try:
            _smtp_send(settings, mail)
        except (OSError, smtplib.SMTPException) as exc:
            message.status = "failed"
            message.error = type(exc).__name__
            logger.warning(
                "mail not delivered by SMTP; kept in the outbox", extra={"id": message.id}
            )
        else:
            message.status = "sent"
            message.sent_at = utcnow()
    db.add(message)
    db.flush()
    return message


def _smtp_send(settings: Settings, mail: Mail) -> None:
    assert settings.smtp_host is not None
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = mail.to
    email["Subject"] = mail.subject
    email.set_content(mail.body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username and settings.smtp_password is not None:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(email)
