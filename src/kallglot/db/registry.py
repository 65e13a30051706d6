"""Imports every domain's tables so that ``Base.metadata`` is complete.

Alembic's autogenerate and the test fixtures read the metadata from here; a
domain that adds a module of tables adds one line to ``MODEL_MODULES``.
"""

from __future__ import annotations

import importlib

from kallglot.db.base import Base

MODEL_MODULES = (
    "kallglot.accounts.models",
    "kallglot.api.credits",
    "kallglot.api.idempotency",
    "kallglot.audit.models",
    "kallglot.billing.models",
    "kallglot.mail.models",
    "kallglot.crypto.models",
    "kallglot.privacy.models",
    "kallglot.realtime.models",
    "kallglot.realtime.webhooks",
    "kallglot.telephony.routing.models",
    "kallglot.telephony.kyc.models",
    "kallglot.telephony.numbers.models",
    "kallglot.telephony.calls.models",
)

for _module in MODEL_MODULES:
    importlib.import_module(_module)

metadata = Base.metadata

__all__ = ["MODEL_MODULES", "metadata"]
