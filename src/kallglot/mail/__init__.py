"""The one way Kallglot sends email: SMTP when configured, otherwise the outbox table."""

from kallglot.mail.sender import Mail, send

__all__ = ["Mail", "send"]
