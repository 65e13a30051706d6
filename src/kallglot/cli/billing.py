"""``kallglot billing …``: meter usage, report it to Stripe, grant credit, issue invoices."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.orm import Session

from kallglot.cli.common import cli_transaction, reported_errors, settings_or_exit
from kallglot.core.settings import Settings

billing_app = typer.Typer(help="Usage metering, Stripe, credit and invoices.", no_args_is_help=True)

DEMO_CREDIT_MINUTES = 600
T = TypeVar("T")


def register(app: typer.Typer) -> None:
    app.add_typer(billing_app, name="billing")


def _in_transaction(settings: Settings, work: Callable[[Session], T]) -> T:
    with cli_transaction(settings) as db:
        return work(db)


@billing_app.command("meter")
def meter(
    day: Annotated[
        str | None, typer.Option(help="Day of number rentals to meter (default: yesterday, UTC).")
    ] = None,
) -> None:
    """Create the usage records of ended sessions and of numbers held on DAY (idempotent)."""
    from kallglot.billing.metering import meter_ended_sessions, meter_numbers

    rented = date.fromisoformat(day) if day else datetime.now(UTC).date() - timedelta(days=1)

    def work(db: Session) -> tuple[int, int]:
        return meter_ended_sessions(db), meter_numbers(db, rented)

    sessions, numbers = _in_transaction(settings_or_exit(), work)
    typer.echo(f"{sessions} session usage records, {numbers} number-day records")


@billing_app.command("report")
def report() -> None:
    """Send unreported usage of subscribed organizations to Stripe as meter events (once)."""
    from kallglot.billing.stripe_gateway import StripeGateway

    settings = settings_or_exit()
    with reported_errors():
        gateway = StripeGateway.from_settings(settings)
    sent = _in_transaction(settings, gateway.report_usage)
    typer.echo(f"{sent} meter events sent")


@billing_app.command("credit")
def credit(
    organization_id: Annotated[str, typer.Argument()],
    minutes: Annotated[int, typer.Argument(help="Minutes to add (negative to take back).")],
    reference: Annotated[str, typer.Option(help="Unique per grant; a repeat is ignored.")],
) -> None:
    """Grant prepaid credit to an organization."""
    from kallglot.billing.metering import add_credit

    booked = _in_transaction(
        settings_or_exit(),
        lambda db: add_credit(db, organization_id, minutes * 60, f"grant:{reference}"),
    )
    typer.echo("credit booked" if booked else "already booked (same reference)")


@billing_app.command("invoice")
def invoice(
    organization_id: Annotated[str, typer.Argument()],
    start: Annotated[str, typer.Option("--from", help="Period start, YYYY-MM-DD (UTC).")],
    end: Annotated[str, typer.Option("--to", help="Period end, exclusive, YYYY-MM-DD (UTC).")],
    out: Annotated[Path, typer.Option(help="Where to write the PDF.")],
) -> None:
    """Issue an enterprise invoice for the period and write its PDF."""
    from kallglot.billing.invoices import issue_invoice, render_pdf

    settings = settings_or_exit()
    period = [
        datetime.combine(date.fromisoformat(d), datetime.min.time(), UTC) for d in (start, end)
    ]

    def work(db: Session) -> tuple[str, bytes]:
        issued = issue_invoice(db, settings, organization_id, period[0], period[1])
        return issued.number, render_pdf(issued, settings)

    number, pdf = _in_transaction(settings, work)
    out.write_bytes(pdf)
    typer.echo(f"invoice {number} written to {out}")


def seed_demo_credit(settings: Settings) -> None:
    """The demo organization gets prepaid credit once, so that it can place calls."""
    from kallglot.accounts.demo import seed_demo_organization
    from kallglot.billing.metering import add_credit

    def work(db: Session) -> bool:
        organization = seed_demo_organization(db)
        return add_credit(db, organization.id, DEMO_CREDIT_MINUTES * 60, "grant:demo")

    if _in_transaction(settings, work):
        typer.echo(f"demo credit: {DEMO_CREDIT_MINUTES} minutes")
