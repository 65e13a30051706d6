"""Reading the mail the product sends (from the outbox table, decrypted, secrets in place)."""

from __future__ import annotations

import re

from sqlalchemy import select

from kallglot import mail
from kallglot.mail.models import OutboxMessage
from tests.conftest import MigratedDatabase


def mails_to(database: MigratedDatabase, address: str) -> list[mail.ReadMail]:
    """Every message to ``address``, newest first, as the recipient reads it."""
    with database.sessions() as db:
        messages = db.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).all()
        read = [mail.read(db, message) for message in messages]
    return [message for message in read if message.to == address]


def last_mail_to(database: MigratedDatabase, address: str) -> mail.ReadMail:
    found = mails_to(database, address)
    assert found, f"no mail to {address}"
    return found[0]


def token_in(message: mail.ReadMail) -> str:
    found = re.search(r"#token=([A-Za-z0-9_-]+)", message.body or "")
    assert found is not None
    return found.group(1)
