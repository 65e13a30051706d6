"""The subject-store registry: what personal data each domain holds about one data subject.

A domain that stores personal data declares a *subject store* — a class with ``export`` and
``erase`` — with ``@subject_store("name")`` in one module, and adds that module's name to
``SUBJECT_STORE_MODULES`` (one line). Access, portability and erasure requests then cover
it. Stores run in the order of that tuple, so a store that finds its rows through another
store's (transcripts through call records) is listed before it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kallglot.accounts.models import Membership, User
from kallglot.crypto import EncryptedBlobStore
from kallglot.telephony.routing.models import Agent

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


@dataclass(frozen=True)
class Holds:
    """The legal holds an erasure must respect: ids of organization-wide holds, and for each
    held call (by call record id and by session id) the ids of the holds on it."""

    organization: tuple[str, ...] = ()
    calls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def on(self, *refs: str | None) -> list[str]:
        """Ids of the holds on any of ``refs`` (a call record id, a session id)."""
        return list(dict.fromkeys(hold for ref in refs if ref for hold in self.calls.get(ref, ())))


@dataclass
class StoreContext:
    session: Session
    subject: Subject
    blobs: EncryptedBlobStore
    now: datetime
    holds: Holds = field(default_factory=Holds)


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
    # Records kept because a legal hold covers them, each naming its holds; erased once the
    # holds are released.
    held: tuple[dict[str, Any], ...] = ()


def user_in_organization(session: Session, organization_id: str, user_id: str) -> bool:
    """A member of the organization, or a former one whose agent profile (and so whose calls)
    it keeps. Anyone else is not the organization's subject: their data is not its to
    export, correct or erase."""
    member = select(Membership.id).where(
        Membership.organization_id == organization_id, Membership.user_id == user_id
    )
    agent = select(Agent.id).where(
        Agent.organization_id == organization_id, Agent.user_id == user_id
    )
    return session.scalar(member.union_all(agent).limit(1)) is not None


def organization_user_by_email(session: Session, organization_id: str, email: str) -> User | None:
    """The account with this (normalised) address, if it is the organization's subject."""
    user = session.scalar(select(User).where(func.lower(User.email) == email))
    if user is None or not user_in_organization(session, organization_id, user.id):
        return None
    return user


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
