"""Where the purge job finds the domains' purgers.

A domain that stores personal data registers its purgers with
``@kallglot.privacy.retention.purger("transcripts")`` in one of its modules and adds that
module's name here (one line), so the CLI and the server import it before purging.
"""

from __future__ import annotations

import importlib

PURGER_MODULES: list[str] = [
    "kallglot.billing.retention",
    "kallglot.realtime.recordings",
    "kallglot.telephony.kyc.retention",
    "kallglot.telephony.calls.retention",
]


def load_purgers() -> None:
    for module in PURGER_MODULES:
        importlib.import_module(module)
