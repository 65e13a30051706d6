"""Imports every domain's tables so that ``Base.metadata`` is complete.

Alembic's autogenerate and the test fixtures read the metadata from here; a
domain that adds a ``models.py`` adds one import line.
"""

from __future__ import annotations

from kallglot.accounts import models as accounts_models
from kallglot.api import idempotency as api_idempotency
from kallglot.crypto import models as crypto_models
from kallglot.db.base import Base
from kallglot.privacy import models as privacy_models

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "api_idempotency",
    "crypto_models",
    "metadata",
    "privacy_models",
]
