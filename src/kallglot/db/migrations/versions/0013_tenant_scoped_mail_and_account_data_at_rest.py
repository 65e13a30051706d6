"""tenant-scoped mail and account data at rest

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 16:40:00

The outbox keeps its recipient and body encrypted and never a live secret. Rows written before
held both in clear (working reset and invitation links among them) and cannot be encrypted
here, where no key is at hand: they are deleted — ask for a new link.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM mail_outbox"))
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organization_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("to_encrypted", sa.LargeBinary(), nullable=False))
        batch_op.add_column(sa.Column("to_hash", sa.String(length=64), nullable=False))
        batch_op.add_column(sa.Column("body_encrypted", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("secret_ref", sa.String(length=120), nullable=True))
        batch_op.drop_column("to_address")
        batch_op.drop_column("body")
        batch_op.create_index(
            batch_op.f("ix_mail_outbox_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_mail_outbox_to_hash"), ["to_hash"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_mail_outbox_organization_id_organizations"),
            "organizations",
            ["organization_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM mail_outbox"))
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_mail_outbox_organization_id_organizations"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_mail_outbox_to_hash"))
        batch_op.drop_index(batch_op.f("ix_mail_outbox_organization_id"))
        batch_op.add_column(sa.Column("to_address", sa.String(length=254), nullable=False))
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=False))
        batch_op.drop_column("secret_ref")
        batch_op.drop_column("body_encrypted")
        batch_op.drop_column("to_hash")
        batch_op.drop_column("to_encrypted")
        batch_op.drop_column("organization_id")
