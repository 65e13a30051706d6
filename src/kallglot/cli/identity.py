"""Identity sub-commands: ``audit verify``, ``mail outbox``, and the demo accounts."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from kallglot.cli.common import settings_or_exit
from kallglot.core.settings import Settings
from kallglot.db.engine import database_transaction

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
mail_app = typer.Typer(help="Outgoing mail.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
    app.add_typer(mail_app, name="mail")


@audit_app.command("verify")
def audit_verify(
    organization: Annotated[
        str | None, typer.Option(help="Verify only this organization's chain.")
    ] = None,
) -> None:
    """Recompute the hash chains; exit 1 naming the first broken record of each bad chain."""
    from kallglot import audit

    with database_transaction(settings_or_exit().effective_database_url) as session:
        reports = audit.verify(session, organization)
    broken = False
    for report in reports:
        if report.ok:
            typer.echo(f"{report.chain}: ok ({report.records} records)")
        else:
            broken = True
            typer.echo(f"{report.chain}: BROKEN at sequence {report.broken_at} ({report.reason})")
    if not reports:
        typer.echo("no audit records")
    if broken:
        raise typer.Exit(1)


@mail_app.command("outbox")
def mail_outbox(
    limit: Annotated[int, typer.Option(help="How many messages, newest first.", min=1)] = 20,
) -> None:
    """Show the mail that was kept in the outbox (no SMTP configured, or SMTP refused it)."""
    from kallglot import mail
    from kallglot.mail.models import OutboxMessage

    with database_transaction(settings_or_exit().effective_database_url) as session:
        messages = session.scalars(
            select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
        ).all()
        if not messages:
            typer.echo("the outbox is empty")
        for message in messages:
            shown = mail.read(session, message)
            typer.echo(
                f"--- {message.id}  {message.created_at:%Y-%m-%d %H:%M:%S}Z  [{message.status}]"
            )
            typer.echo(f"To: {shown.to}")
            typer.echo(f"Subject: {shown.subject}")
            typer.echo("")
            typer.echo(shown.body if shown.body is not None else "(body removed after delivery)")


def seed_demo(settings: Settings) -> None:
    """``kallglot demo seed``: the demo organization, its accounts, the credentials file."""
    from kallglot.accounts.demo import credentials_path, seed_demo_accounts, write_credentials

    with database_transaction(settings.effective_database_url) as session:
        organization, credentials = seed_demo_accounts(session, settings)
    typer.echo(f"demo organization {organization.id} ({organization.name})")
    if credentials is not None:
        write_credentials(settings, credentials)
    if settings.env != "production":
        typer.echo(f"demo credentials in {credentials_path(settings)}")
