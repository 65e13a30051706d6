"""The subject-store registry: what personal data each domain holds about one data subject.

A domain that stores personal data declares a *subject store* — a class with ``export`` and
``erase`` — with ``@subject_store("name")`` in one module, and adds that module's name to
``SUBJECT_STORE_MODULES`` (one line). Access, portability and erasure requests then cover
it. Stores run in the order of that tuple, so a store that finds its rows through another
store's (transcripts through call records) is listed before it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session

from kallglot.crypto import EncryptedBlobStore

SUBJECT_STORE_MODULES: tuple[str, ...] = (
    "kallglot.privacy.stores.accounts",
    "kallglot.privacy.stores.realtime",
    "kallglot.privacy.stores.telephony",
    "kallglot.privacy.stores.audit",
)


@dataclass(frozen=True)
class Subject:
    """One data subject within one organization.

    A user is known by ``user_id`` (and their email); an external person by their email
    or phone number. The plain values live only in memory while a request is processed.
    """

    organization_id: str
    user_id: str | None = None
    email: str | None = None
    phone: str | None = None
    email_hash: str | None = None
    phone_hash: str | None = None

    @property
    def key_refs(self) -> tuple[str, ...]:
        """The ``subject_ref``s under which this subject's own data keys may exist."""
        return tuple(ref for ref in (self.user_id, self.phone_hash, self.email_hash) if ref)


@dataclass
class StoreContext:
    session: Session
    subject: Subject
    blobs: EncryptedBlobStore
    now: datetime


@dataclass
class Exported:
    """Records (JSON objects, flat ones also written as CSV) and files (name -> bytes)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Erased:
    """What an erasure did in one store; ``kept`` records stay for ``kept_reason`` (law)."""

    removed: int
    kept: int = 0
    kept_reason: str | None = None


class SubjectStore(Protocol):
    def export(self, context: StoreContext) -> Exported: ...

    def erase(self, context: StoreContext) -> Erased: ...


_STORES: dict[str, SubjectStore] = {}
StoreClass = TypeVar("StoreClass", bound=type[SubjectStore])


def subject_store(name: str) -> Callable[[StoreClass], StoreClass]:
    """Register an instance of the decorated class as the subject store ``name``."""

    def register(cls: StoreClass) -> StoreClass:
        if name in _STORES:
            raise ValueError(f"subject store {name!r} is registered twice")
        _STORES[name] = cls()
        return cls

    return register


def subject_stores() -> dict[str, SubjectStore]:
    """Every registered store, in registration order (imports ``SUBJECT_STORE_MODULES``)."""
    for module in SUBJECT_STORE_MODULES:
        importlib.import_module(module)
    return dict(_STORES)
