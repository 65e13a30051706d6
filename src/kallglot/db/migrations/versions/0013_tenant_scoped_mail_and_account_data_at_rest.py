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

# Columns that move into encrypted ones (``<name>_encrypted``), with their former length, and
# whose data key seals them: the platform's, or that of the organization the row names.
USER_SECRETS = {"totp_secret": 64, "totp_pending_secret": 64, "phone_number": 32}
LEGAL_SECRETS = {"authority": 200}
INVITATION_SECRETS = {"email": 254}


def _reseal(table: str, columns: dict[str, int], *, seal: bool, organization: bool) -> None:
    """Encrypt (upgrade) or decrypt (downgrade) the values of existing rows."""
    from sqlalchemy.orm import Session

    from kallglot.crypto import PLATFORM_SCOPE, decrypt_text, encrypt_field

    bind = op.get_bind()
    source, target = ("", "_encrypted") if seal else ("_encrypted", "")
    rows_table = sa.table(
        table,
        sa.column("id"),
        *([sa.column("organization_id")] if organization else []),
        *(sa.column(c + s) for c in columns for s in ("", "_encrypted")),
    )
    scope_column = rows_table.c.organization_id if organization else sa.literal(PLATFORM_SCOPE)
    selected = sa.select(
        rows_table.c.id, scope_column, *(rows_table.c[c + source] for c in columns)
    )
    with Session(bind=bind) as session:
        for row in bind.execute(selected).all():
            row_id, scope = row[0], row[1]
            values: dict[str, object] = {}
            for column, value in zip(columns, row[2:], strict=True):
                if value is None:
                    values[column + target] = None
                elif seal:
                    values[column + target] = encrypt_field(
                        session, scope, table, row_id, column, value
                    )
                else:
                    values[column + target] = decrypt_text(session, table, row_id, column, value)
            if any(value is not None for value in values.values()):
                session.execute(
                    sa.update(rows_table).where(rows_table.c.id == row_id).values(**values)
                )
        session.flush()


def _hash_invitation_emails() -> None:
    """Each invitation's keyed address hash (under its organization's key), for lookups."""
    from sqlalchemy.orm import Session

    from kallglot.crypto import email_lookup_hash

    bind = op.get_bind()
    rows_table = sa.table(
        "invitations",
        sa.column("id"),
        sa.column("organization_id"),
        sa.column("email"),
        sa.column("email_hash"),
    )
    with Session(bind=bind) as session:
        for row in bind.execute(sa.select(rows_table)).all():
            digest = email_lookup_hash(session, row.organization_id, row.email)
            session.execute(
                sa.update(rows_table).where(rows_table.c.id == row.id).values(email_hash=digest)
            )
        session.flush()


def _encrypt_columns(table: str, columns: dict[str, int], *, organization: bool) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.add_column(sa.Column(f"{column}_encrypted", sa.LargeBinary(), nullable=True))
    _reseal(table, columns, seal=True, organization=organization)
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.drop_column(column)


def _decrypt_columns(table: str, columns: dict[str, int], *, organization: bool) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column, length in columns.items():
            batch_op.add_column(sa.Column(column, sa.String(length=length), nullable=True))
    _reseal(table, columns, seal=False, organization=organization)
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.drop_column(f"{column}_encrypted")


def upgrade() -> None:
    _encrypt_columns("users", USER_SECRETS, organization=False)
    _encrypt_columns("legal_requests", LEGAL_SECRETS, organization=True)
    with op.batch_alter_table("legal_requests", schema=None) as batch_op:
        batch_op.alter_column("authority_encrypted", existing_type=sa.LargeBinary(), nullable=False)
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_hash", sa.String(length=64), nullable=True))
    _hash_invitation_emails()
    _encrypt_columns("invitations", INVITATION_SECRETS, organization=True)
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.alter_column("email_encrypted", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.alter_column("email_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f("ix_invitations_email_hash"), ["email_hash"], unique=False)
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
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitations_email_hash"))
        batch_op.drop_column("email_hash")
    _decrypt_columns("invitations", INVITATION_SECRETS, organization=True)
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.alter_column("email", existing_type=sa.String(length=254), nullable=False)
    _decrypt_columns("users", USER_SECRETS, organization=False)
    _decrypt_columns("legal_requests", LEGAL_SECRETS, organization=True)
    with op.batch_alter_table("legal_requests", schema=None) as batch_op:
        batch_op.alter_column("authority", existing_type=sa.String(length=200), nullable=False)
