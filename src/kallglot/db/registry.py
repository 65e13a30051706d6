"""Imports every domain's tables so that ``Base.metadata`` is complete.

Alembic's autogenerate and the test fixtures read the metadata from here; a
domain that adds a ``models.py`` adds one import line.
"""

from __future__ import annotations

from kallglot.accounts import models as accounts_models
from kallglot.api import idempotency as api_idempotency
from kallglot.audit import models as audit_models
from kallglot.db.base import Base
from kallglot.mail import models as mail_models
from kallglot.realtime import models as realtime_models
from kallglot.realtime import webhooks as realtime_webhooks

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "api_idempotency",
    "audit_models",
    "mail_models",
    "metadata",
    "realtime_models",
    "realtime_webhooks",
]
