"""Sending mail. Nothing is ever dropped: without SMTP, or when SMTP refuses, the message
stays in the outbox table, where ``kallglot mail outbox`` shows it.

The outbox holds the recipient and the body encrypted (under the organization's data key, or
the platform's for mail about an account), a keyed hash of the address to find a person's
mail, and never a live secret (:mod:`kallglot.mail.secrets`). Bodies of delivered mail are
dropped after :data:`SENT_BODY_RETENTION`.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

from sqlalchemy import update
from sqlalchemy.orm import Session

from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings
from kallglot.crypto import PLATFORM_SCOPE, decrypt_text, email_lookup_hash, encrypt_field
from kallglot.mail.models import OutboxMessage
from kallglot.mail.secrets import render

logger = logging.getLogger(__name__)
SMTP_TIMEOUT_SECONDS = 15
TABLE = OutboxMessage.__tablename__
SENT_BODY_RETENTION = timedelta(days=7)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    # With ``secret_ref``, the body says :data:`kallglot.mail.secrets.SECRET` where the secret
    # goes; the secret itself is never passed in (nor stored).
    body: str
    # The organization the mail is sent for; ``None`` for mail about the account itself.
    organization_id: str | None = None
    secret_ref: str | None = None


def scope_of(organization_id: str | None) -> str:
    return organization_id or PLATFORM_SCOPE


def address_hash(db: Session, organization_id: str | None, address: str) -> str:
    """What ``mail_outbox.to_hash`` holds for mail to ``address`` sent for this organization."""
    return email_lookup_hash(db, scope_of(organization_id), address)


def send(db: Session, settings: Settings, mail: Mail) -> OutboxMessage:
    """Send ``mail`` (SMTP if configured) and keep a record of it in the outbox table."""
    message_id, scope = new_id("msg"), scope_of(mail.organization_id)
    message = OutboxMessage(
        id=message_id,
        organization_id=mail.organization_id,
        to_encrypted=encrypt_field(db, scope, TABLE, message_id, "to", mail.to),
        to_hash=address_hash(db, mail.organization_id, mail.to),
        subject=mail.subject[:300],
        body_encrypted=encrypt_field(db, scope, TABLE, message_id, "body", mail.body),
        secret_ref=mail.secret_ref,
        status="outbox",
    )
    if settings.smtp_host:
        try:
            _smtp_send(settings, mail, render(db, mail.body, mail.secret_ref))
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
    purge_sent_bodies(db)
    return message


def purge_sent_bodies(db: Session) -> int:
    """Drop the bodies of mail delivered more than :data:`SENT_BODY_RETENTION` ago."""
    result = db.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == "sent",
            OutboxMessage.sent_at < utcnow() - SENT_BODY_RETENTION,
            OutboxMessage.body_encrypted.is_not(None),
        )
        .values(body_encrypted=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class ReadMail:
    id: str
    to: str
    subject: str
    body: str | None  # None once purged after delivery
    status: str


def read(db: Session, message: OutboxMessage, *, with_secret: bool = True) -> ReadMail:
    """The message as it was (or will be) delivered, its secret computed back in place
    (or, ``with_secret=False``, left out: a personal-data export shows no live link)."""
    to = decrypt_text(db, TABLE, message.id, "to", message.to_encrypted)
    body = None
    if message.body_encrypted is not None:
        body = decrypt_text(db, TABLE, message.id, "body", message.body_encrypted)
        body = render(db, body, message.secret_ref if with_secret else None)
    return ReadMail(message.id, to, message.subject, body, message.status)


def _smtp_send(settings: Settings, mail: Mail, body: str) -> None:
    assert settings.smtp_host is not None
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = mail.to
    email["Subject"] = mail.subject
    email.set_content(body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username and settings.smtp_password is not None:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(email)
