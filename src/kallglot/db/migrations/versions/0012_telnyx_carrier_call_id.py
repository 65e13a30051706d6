"""telnyx carrier call id

Revision ID: 0012
Revises: 0007
Create Date: 2026-11-29 12:27:03.020082
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("carrier_call_id", sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_call_records_carrier_call_id"), ["carrier_call_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_call_records_carrier_call_id"), type_="unique")
        batch_op.drop_column("carrier_call_id")
