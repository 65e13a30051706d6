"""The tamper-evident audit log: ``record`` appends, ``verify`` proves the chain intact."""

from kallglot.audit.log import (
    AuditContext,
    ChainReport,
    SystemActor,
    record,
    redact_changes,
    verify,
    verify_chain,
)

__all__ = [
    "AuditContext",
    "ChainReport",
    "SystemActor",
    "record",
    "redact_changes",
    "verify",
    "verify_chain",
]
