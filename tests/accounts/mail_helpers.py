"""Reading the tokens that the product mails (from the outbox table)."""

from __future__ import annotations

import re

from sqlalchemy import select

from kallglot.mail.models import OutboxMessage
from tests.conftest import MigratedDatabase


def last_mail_to(database: MigratedDatabase, address: str) -> OutboxMessage:
    with database.sessions() as db:
        message = db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.to_address == address)
            .order_by(OutboxMessage.id.desc())
        ).first()
        assert message is not None, f"no mail to {address}"
        return message


def token_in(message: OutboxMessage) -> str:
    found = re.search(r"#token=([A-Za-z0-9_-]+)", message.body)
    assert found is not None
    return found.group(1)
