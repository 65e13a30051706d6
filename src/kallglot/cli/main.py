"""Root of the ``kallglot`` command; each domain registers its own sub-commands."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from sqlalchemy.engine import make_url

from kallglot import __version__
from kallglot.cli import billing as billing_cli
from kallglot.cli import demo as demo_cli
from kallglot.cli import doctor as doctor_cli
from kallglot.cli import identity
from kallglot.cli import numbers as numbers_cli
from kallglot.cli import privacy as privacy_cli
from kallglot.cli import speech as speech_cli
from kallglot.cli.common import settings_or_exit
from kallglot.core.settings import Settings
from kallglot.db import migrate

app = typer.Typer(
    help="Kallglot: real-time voice translation for phone calls.", no_args_is_help=True
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
identity.register(app)
privacy_cli.register(app)
speech_cli.register(app)
numbers_cli.register(app)
billing_cli.register(app)
doctor_cli.register(app)
demo_cli.register(app)


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

    config = server_config(create_app(settings), host, port, tls_cert=tls_cert, tls_key=tls_key)
    _AnnouncingServer(config, settings).run()


class _AnnouncingServer(uvicorn.Server):
    """Says where to go once the server listens: the last lines ``make run`` prints."""

    def __init__(self, config: uvicorn.Config, settings: Settings) -> None:
        super().__init__(config)
        self.settings = settings

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            typer.echo("\n".join(announcement(self.settings, self.config.app)))


def announcement(settings: Settings, app: object) -> list[str]:
    from kallglot.accounts.demo import credentials_path
    from kallglot.cli.demo import demo_sip_address

    base = settings.public_base_url
    lines = [f"Kallglot is up: open {base}/app (API reference: {base}/docs)"]
    credentials = credentials_path(settings)
    if settings.env != "production" and credentials.is_file():
        lines.append(f"Demo accounts and API key: {credentials}")
    gateway = getattr(getattr(app, "state", None), "sip_gateway", None)
    if gateway is not None:
        address = demo_sip_address(settings, gateway.port)
        if address is not None:
            lines.append(f"Call the demo agent from a softphone: {address}")
    return lines


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = settings_or_exit()
    with _migration_errors():
        migrate.upgrade(settings.effective_database_url, revision)
    typer.echo(f"database at {_revision_of(settings)}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Revert migrations down to REVISION (``base`` removes every table)."""
    settings = settings_or_exit()
    with _migration_errors():
        migrate.downgrade(settings.effective_database_url, revision)
    typer.echo(f"database at {_revision_of(settings)}")


@contextmanager
def _migration_errors() -> Iterator[None]:
    """An unknown revision is the operator's typo: say so, no traceback."""
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        typer.echo(f"kallglot: {exc}", err=True)
        raise typer.Exit(1) from None


def _revision_of(settings: Settings) -> str:
    from kallglot.db.engine import build_engine

    engine = build_engine(settings.effective_database_url)
    try:
        return migrate.current_revision(engine) or "base"
    finally:
        engine.dispose()


def main() -> None:
    app()
