"""The data keys table: one wrapped key per organization, and per data subject where needed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from kallglot.db.base import Base, IdMixin, TimestampMixin

ORGANIZATION_SCOPE = ""


class DataKey(IdMixin, TimestampMixin, Base):
    """A data key wrapped by a master key.

    ``subject_ref`` is ``""`` for the organization's own key, else an opaque reference to a
    data subject (a user id or a lookup hash, never a raw phone number or email). No foreign
    key to organizations: a destroyed key stays as a tombstone so that erased data reports
    ``data_erased`` rather than an unknown key. Destroying clears ``wrapped_key``.
    """

    __tablename__ = "data_keys"
    __table_args__ = (
        Index(
            "ux_data_keys_live_scope",
            "organization_id",
            "subject_ref",
            unique=True,
            sqlite_where=text("destroyed_at IS NULL"),
            postgresql_where=text("destroyed_at IS NULL"),
        ),
    )

    organization_id: Mapped[str] = mapped_column(String(40), index=True)
    subject_ref: Mapped[str] = mapped_column(String(128), default=ORGANIZATION_SCOPE)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    master_key_id: Mapped[str] = mapped_column(String(128))
    destroyed_at: Mapped[datetime | None] = mapped_column(nullable=True)
