"""call state: per-leg stream tokens, call records' end reason, language hints

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 16:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kallglot.db.base

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_session_tokens",
        sa.Column("session_id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("party", sa.String(length=10), nullable=True),
        sa.Column("expires_at", kallglot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("created_at", kallglot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["call_sessions.id"],
            name=op.f("fk_call_session_tokens_session_id_call_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_session_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_call_session_tokens_token_hash")),
    )
    with op.batch_alter_table("call_session_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_call_session_tokens_session_id"), ["session_id"], unique=False
        )
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("end_reason", sa.String(length=40), nullable=True))
    with op.batch_alter_table("call_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_language_is_hint", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_sessions", schema=None) as batch_op:
        batch_op.drop_column("source_language_is_hint")
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.drop_column("end_reason")
    with op.batch_alter_table("call_session_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_session_tokens_session_id"))
    op.drop_table("call_session_tokens")
