"""The one way Kallglot sends email: SMTP when configured, otherwise the outbox table."""

from kallglot.mail.secrets import SECRET, mailed_secret
from kallglot.mail.sender import Mail, ReadMail, address_hash, read, send

__all__ = ["SECRET", "Mail", "ReadMail", "address_hash", "mailed_secret", "read", "send"]
