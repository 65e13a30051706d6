"""Root of the ``kallglot`` command; each domain registers its own sub-commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from sqlalchemy.engine import make_url

from kallglot import __version__
from kallglot.cli import billing as billing_cli
from kallglot.cli import identity
from kallglot.cli import numbers as numbers_cli
from kallglot.cli import privacy as privacy_cli
from kallglot.cli import speech as speech_cli
from kallglot.core.errors import ConfigurationError
from kallglot.core.settings import Settings, load_settings
from kallglot.db import migrate

app = typer.Typer(
    help="Kallglot: real-time voice translation for phone calls.", no_args_is_help=True
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo organization.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
identity.register(app)
privacy_cli.register(app)
speech_cli.register(app)
numbers_cli.register(app)
billing_cli.register(app)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        typer.echo(f"kallglot: {exc}", err=True)
        raise typer.Exit(2) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kallglot {__version__}")
        raise typer.Exit


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Kallglot command line."""


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate (chain): serve HTTPS.", exists=True)
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(help="PEM private key of --tls-cert.", exists=True)
    ] = None,
) -> None:
    """Run the API server. An SQLite database is created and migrated on the way."""
    if (tls_cert is None) != (tls_key is None):
        typer.echo("kallglot: --tls-cert and --tls-key go together", err=True)
        raise typer.Exit(2)
    settings = settings_or_exit()
    if make_url(settings.effective_database_url).get_backend_name() == "sqlite":
        migrate.upgrade(settings.effective_database_url)
    settings.master_key_bytes()
    if "public_base_url" not in settings.model_fields_set:
        # Stream URLs handed to clients must point at the port actually served.
        scheme = "https" if tls_cert else "http"
        settings = settings.model_copy(update={"public_base_url": f"{scheme}://{host}:{port}"})
    from kallglot.api.app import create_app
    from kallglot.api.server import server_config

    uvicorn.Server(
        server_config(create_app(settings), host, port, tls_cert=tls_cert, tls_key=tls_key)
    ).run()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = settings_or_exit()
    migrate.upgrade(settings.effective_database_url, revision)
    typer.echo(f"database at {migrate.head_revision(settings.effective_database_url)}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Revert migrations down to REVISION (``base`` removes every table)."""
    settings = settings_or_exit()
    migrate.downgrade(settings.effective_database_url, revision)
    typer.echo(f"database at {revision}")


@demo_app.command("seed")
def demo_seed() -> None:
    """Create the demo organization and its accounts (idempotent)."""
    identity.seed_demo(settings_or_exit())
    billing_cli.seed_demo_credit(settings_or_exit())


def main() -> None:
    app()
