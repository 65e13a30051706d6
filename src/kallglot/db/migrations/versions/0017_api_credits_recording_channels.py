"""api credit usage; recordings per channel and format

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-04 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_credit_usage",
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_api_credit_usage_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "period", name=op.f("pk_api_credit_usage")),
    )
    # Recordings made before this revision are one stereo WAV: "dual", "wav".
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=10), server_default="dual", nullable=False)
        )
        batch_op.add_column(
            sa.Column("format", sa.String(length=8), server_default="wav", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_column("format")
        batch_op.drop_column("channel")
    op.drop_table("api_credit_usage")
