"""Data keys: created on first use, unwrapped through a cache, destroyed, re-wrapped."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kallglot.core.clock import utcnow
from kallglot.core.errors import ValidationFailedError
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings, get_settings
from kallglot.crypto.errors import DecryptionError, KeyDestroyedError
from kallglot.crypto.models import ORGANIZATION_SCOPE, DataKey
from kallglot.crypto.wrapping import KeyWrapper, LocalKeyWrapper

DATA_KEY_BYTES = 32


@dataclass(frozen=True)
class DataKeyHandle:
    id: str
    key: bytes


def _wrap_context(key_id: str) -> bytes:
    return b"kallglot data key v1\x00" + key_id.encode()


def _scope(subject_ref: str | None) -> str:
    if subject_ref is None:
        return ORGANIZATION_SCOPE
    # A subject reference is an id or a lookup hash; a raw address in it would be plaintext
    # personal data sitting in an unencrypted column.
    if not subject_ref or "@" in subject_ref or subject_ref.startswith("+") or " " in subject_ref:
        raise ValidationFailedError(
            "subject_ref must be an opaque id or lookup hash", param="subject_ref"
        )
    return subject_ref


class Keyring:
    """Creates, unwraps (with an in-process cache), destroys and re-wraps data keys.

    The cache only saves the unwrap (a KMS round trip in production): every use still reads
    the key row through the session, so a destroyed key is refused at once everywhere.
    """

    def __init__(self, wrapper: KeyWrapper, *, cache_size: int = 4096) -> None:
        self.wrapper = wrapper
        self._cache: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        return cls(
            LocalKeyWrapper(settings.master_key_bytes(), settings.previous_master_keys_bytes())
        )

    def data_key(
        self, session: Session, organization_id: str, subject_ref: str | None = None
    ) -> DataKeyHandle:
        """The live data key of an organization (or one of its subjects), created if missing."""
        scope = _scope(subject_ref)
        row = self._live_row(session, organization_id, scope)
        if row is None:
            row = self._create(session, organization_id, scope)
        return DataKeyHandle(id=row.id, key=self._unwrap(row))

    def key_by_id(self, session: Session, key_id: str) -> bytes:
        row = session.get(DataKey, key_id)
        if row is None:
            raise DecryptionError("the ciphertext names an unknown data key")
        return self._unwrap(row)

    def destroy(
        self, session: Session, organization_id: str, subject_ref: str | None = None
    ) -> int:
        """Crypto-shred: forget the wrapped key so its data can never be decrypted again.

        Without ``subject_ref`` this destroys the organization key only; use
        :meth:`destroy_all` when erasing a whole organization.
        """
        scope = _scope(subject_ref)
        return self._destroy_where(
            session, DataKey.organization_id == organization_id, DataKey.subject_ref == scope
        )

    def destroy_all(self, session: Session, organization_id: str) -> int:
        """Destroy every data key of an organization, its subjects' keys included."""
        return self._destroy_where(session, DataKey.organization_id == organization_id)

    def rotate(self, session: Session, batch_size: int = 500) -> int:
        """Re-wrap up to ``batch_size`` live data keys under the current master key.

        The data itself is not touched. Returns how many keys were re-wrapped; call again
        (in a new transaction) until it returns 0.
        """
        current = self.wrapper.current_key_id
        rows = session.scalars(
            select(DataKey)
            .where(DataKey.destroyed_at.is_(None), DataKey.master_key_id != current)
            .order_by(DataKey.id)
            .limit(batch_size)
        ).all()
        for row in rows:
            plain = self._unwrap(row)
            wrapped = self.wrapper.wrap(plain, context=_wrap_context(row.id))
            row.wrapped_key = wrapped.wrapped
            row.master_key_id = wrapped.master_key_id
        session.flush()
        return len(rows)

    def master_key_usage(self, session: Session) -> dict[str, int]:
        """How many live data keys each master key wraps."""
        rows = session.execute(
            select(DataKey.master_key_id, func.count())
            .where(DataKey.destroyed_at.is_(None))
            .group_by(DataKey.master_key_id)
        ).all()
        return {master_key_id: int(count) for master_key_id, count in rows}

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def _live_row(self, session: Session, organization_id: str, scope: str) -> DataKey | None:
        return session.scalars(
            select(DataKey).where(
                DataKey.organization_id == organization_id,
                DataKey.subject_ref == scope,
                DataKey.destroyed_at.is_(None),
            )
        ).one_or_none()

    def _create(self, session: Session, organization_id: str, scope: str) -> DataKey:
        key_id = new_id("dk")
        wrapped = self.wrapper.wrap(
            secrets.token_bytes(DATA_KEY_BYTES), context=_wrap_context(key_id)
        )
        row = DataKey(
            id=key_id,
            organization_id=organization_id,
            subject_ref=scope,
            wrapped_key=wrapped.wrapped,
            master_key_id=wrapped.master_key_id,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            # Another transaction created the same key first: use theirs.
            existing = self._live_row(session, organization_id, scope)
            if existing is None:
                raise
            return existing
        return row

    def _unwrap(self, row: DataKey) -> bytes:
        if row.destroyed_at is not None or row.wrapped_key is None:
            raise KeyDestroyedError("this data was erased: its encryption key has been destroyed")
        cache_key = (row.id, row.wrapped_key)
        with self._lock:
            cached = self._cache.get(cache_key)
            if cached is not None:
                self._cache.move_to_end(cache_key)
                return cached
        plain = self.wrapper.unwrap(
            row.wrapped_key, master_key_id=row.master_key_id, context=_wrap_context(row.id)
        )
        with self._lock:
            self._cache[cache_key] = plain
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return plain

    def _destroy_where(self, session: Session, *conditions: ColumnElement[bool]) -> int:
        rows = session.scalars(
            select(DataKey).where(DataKey.destroyed_at.is_(None), *conditions)
        ).all()
        now = utcnow()
        for row in rows:
            row.wrapped_key = None
            row.destroyed_at = now
        session.flush()
        with self._lock:
            destroyed = {row.id for row in rows}
            for cache_key in [k for k in self._cache if k[0] in destroyed]:
                del self._cache[cache_key]
        return len(rows)


_installed: Keyring | None = None
_install_lock = threading.Lock()


def install_keyring(keyring: Keyring | None) -> None:
    """Make ``keyring`` the process default (the app does this from its settings)."""
    global _installed
    with _install_lock:
        _installed = keyring


def get_keyring() -> Keyring:
    """The process default keyring, built from the environment's settings if none is installed."""
    global _installed
    with _install_lock:
        if _installed is None:
            _installed = Keyring.from_settings(get_settings())
        return _installed


__all__ = ["DataKeyHandle", "Keyring", "get_keyring", "install_keyring"]
