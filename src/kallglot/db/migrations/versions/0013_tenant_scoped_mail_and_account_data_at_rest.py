"""tenant-scoped mail and account data at rest

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 16:40:00

The outbox keeps its recipient and body encrypted and never a live secret. Rows written before
held both in clear (working reset and invitation links among them) and cannot be encrypted
here, where no key is at hand: they are deleted — ask for a new link.

Users' TOTP secrets and phone numbers move into encrypted columns, sealed with the keyring of
the environment that runs the migration (``kallglot db upgrade`` with this installation's
settings).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# The users' columns that move into encrypted ones, with their former length.
USER_SECRETS = {"totp_secret": 64, "totp_pending_secret": 64, "phone_number": 32}


def _reseal_users(*, seal: bool) -> None:
    """Encrypt (upgrade) or decrypt (downgrade) the TOTP secrets and phone numbers of users."""
    from sqlalchemy.orm import Session

    from kallglot.crypto import PLATFORM_SCOPE, decrypt_text, encrypt_field

    bind = op.get_bind()
    source, target = ("", "_encrypted") if seal else ("_encrypted", "")
    users = sa.table(
        "users",
        sa.column("id"),
        *(sa.column(c + s) for c in USER_SECRETS for s in ("", "_encrypted")),
    )
    rows = bind.execute(sa.select(users.c.id, *(users.c[c + source] for c in USER_SECRETS))).all()
    with Session(bind=bind) as session:
        for row in rows:
            values: dict[str, object] = {}
            for column, value in zip(USER_SECRETS, row[1:], strict=True):
                if value is None:
                    values[column + target] = None
                elif seal:
                    values[column + target] = encrypt_field(
                        session, PLATFORM_SCOPE, "users", row.id, column, value
                    )
                else:
                    values[column + target] = decrypt_text(session, "users", row.id, column, value)
            if any(value is not None for value in values.values()):
                session.execute(sa.update(users).where(users.c.id == row.id).values(**values))
        session.flush()


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        for column in USER_SECRETS:
            batch_op.add_column(sa.Column(f"{column}_encrypted", sa.LargeBinary(), nullable=True))
    _reseal_users(seal=True)
    with op.batch_alter_table("users", schema=None) as batch_op:
        for column in USER_SECRETS:
            batch_op.drop_column(column)
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
    with op.batch_alter_table("users", schema=None) as batch_op:
        for column in USER_SECRETS:
            batch_op.add_column(
                sa.Column(column, sa.String(length=USER_SECRETS[column]), nullable=True)
            )
    _reseal_users(seal=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        for column in USER_SECRETS:
            batch_op.drop_column(f"{column}_encrypted")
