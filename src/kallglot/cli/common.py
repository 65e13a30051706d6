"""What every ``kallglot`` command shares: settings, the keyring, a transaction, error exits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from kallglot.core.errors import ConfigurationError, KallglotError
from kallglot.core.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from kallglot.crypto.keyring import Keyring


def settings_or_exit() -> Settings:
    """The settings, or exit 2 naming the bad one.

    Every table is mapped on the way: a command imports only the models it uses, and a
    foreign key to a table whose module was never imported fails at the first flush
    (``NoReferencedTableError``), which is how ``numbers register-sip`` once crashed.
    """
    import kallglot.db.registry  # noqa: F401  (side effect: the full metadata)

    try:
        return load_settings()
    except ConfigurationError as exc:
        typer.echo(f"kallglot: {exc}", err=True)
        raise typer.Exit(2) from None


def installed_keyring(settings: Settings) -> Keyring:
    """The keyring of ``settings``, installed for the encrypted columns."""
    from kallglot.crypto.keyring import Keyring, install_keyring

    keyring = Keyring.from_settings(settings)
    install_keyring(keyring)
    return keyring


@contextmanager
def reported_errors(*, with_code: bool = False) -> Iterator[None]:
    """A refused operation prints its reason and exits 1 (its transaction rolled back)."""
    try:
        yield
    except KallglotError as exc:
        suffix = f" ({exc.code})" if with_code else ""
        typer.echo(f"kallglot: {exc.message}{suffix}", err=True)
        raise typer.Exit(1) from None


@contextmanager
def cli_transaction(settings: Settings) -> Iterator[Session]:
    """One transaction on the configured database, keyring installed, errors reported."""
    from kallglot.db.engine import database_transaction

    installed_keyring(settings)
    with reported_errors(), database_transaction(settings.effective_database_url) as session:
        yield session
