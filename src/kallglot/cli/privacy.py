"""``kallglot keys …``, ``kallglot retention …`` and ``kallglot privacy …``: key rotation,
the purge job and the sub-processor list."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from kallglot.core.errors import ConfigurationError
from kallglot.core.settings import Settings, load_settings

keys_app = typer.Typer(help="Encryption keys (envelope encryption at rest).", no_args_is_help=True)
retention_app = typer.Typer(help="Retention of personal data.", no_args_is_help=True)
privacy_app = typer.Typer(help="Privacy: the public sub-processor list.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(retention_app, name="retention")
    app.add_typer(privacy_app, name="privacy")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        typer.echo(f"kallglot: {exc}", err=True)
        raise typer.Exit(2) from None


@keys_app.command("rotate")
def keys_rotate(
    batch_size: Annotated[int, typer.Option(min=1, help="Data keys per transaction.")] = 500,
) -> None:
    """Re-wrap every data key under the current master key (the data is not re-encrypted).

    Set the new key as KALLGLOT_MASTER_KEY and the old one in KALLGLOT_PREVIOUS_MASTER_KEYS,
    run this, then remove the old key from KALLGLOT_PREVIOUS_MASTER_KEYS.
    """
    from kallglot.crypto.keyring import Keyring
    from kallglot.db.engine import database_sessions, transaction

    settings = _settings()
    keyring = Keyring.from_settings(settings)
    total = 0
    with database_sessions(settings.effective_database_url) as sessions:
        while True:
            with transaction(sessions) as session:
                done = keyring.rotate(session, batch_size)
            total += done
            if done < batch_size:
                break
        with transaction(sessions) as session:
            usage = keyring.master_key_usage(session)
    typer.echo(f"re-wrapped {total} data keys under {keyring.wrapper.current_key_id}")
    for master_key_id, count in sorted(usage.items()):
        typer.echo(f"  {master_key_id}: {count} live data keys")


@keys_app.command("status")
def keys_status() -> None:
    """How many live data keys each master key wraps."""
    from kallglot.crypto.keyring import Keyring
    from kallglot.db.engine import database_transaction

    settings = _settings()
    keyring = Keyring.from_settings(settings)
    with database_transaction(settings.effective_database_url) as session:
        usage = keyring.master_key_usage(session)
    typer.echo(f"current master key: {keyring.wrapper.current_key_id}")
    for master_key_id, count in sorted(usage.items()):
        typer.echo(f"  {master_key_id}: {count} live data keys")


@retention_app.command("run")
def retention_run(
    batch_size: Annotated[int, typer.Option(min=1, help="Records per transaction.")] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Delete all personal data past its retention period (safe to run again at any time)."""
    from kallglot.db.engine import database_sessions
    from kallglot.privacy.purgers import load_purgers
    from kallglot.privacy.retention import run_purge

    settings = _settings()
    load_purgers()
    with database_sessions(settings.effective_database_url) as sessions:
        report = run_purge(sessions, batch_size=batch_size)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "run_id": report.run_id,
                    "removed": report.removed,
                    "total": report.total,
                    "held_organizations": len(report.held_organizations),
                }
            )
        )
        return
    typer.echo(f"purge {report.run_id}: removed {report.total} records")
    for key, count in sorted(report.removed.items()):
        typer.echo(f"  {key}: {count}")
    if report.held_organizations:
        typer.echo(f"  skipped {len(report.held_organizations)} organizations under legal hold")


@retention_app.command("classes")
def retention_classes() -> None:
    """The retention classes with their default periods and allowed overrides."""
    from kallglot.privacy.retention import default_registry

    for cls in default_registry.classes.values():
        period = f"{cls.default_days} days" if cls.default_days is not None else cls.basis.value
        bounds = f" (override {cls.min_days}-{cls.max_days} days)" if cls.overridable else ""
        typer.echo(f"{cls.name}: {period}{bounds} - {cls.description}")


@privacy_app.command("subprocessor-add")
def subprocessor_add(
    name: Annotated[str, typer.Option(help="Legal name of the sub-processor.")],
    purpose: Annotated[str, typer.Option(help="What it does for Kallglot.")],
    location: Annotated[str, typer.Option(help="Where it processes data.")],
    dpa_url: Annotated[str, typer.Option(help="Link to its data processing agreement.")],
    category: Annotated[
        list[str], typer.Option(help="A category of personal data it sees (repeatable).")
    ],
) -> None:
    """Announce a sub-processor: listed publicly now, in force in 14 days; owners are mailed."""
    from kallglot.db.engine import database_transaction
    from kallglot.privacy.subprocessors import add_subprocessor

    settings = _settings()
    with database_transaction(settings.effective_database_url) as session:
        entry, notified = add_subprocessor(
            session,
            settings,
            name=name,
            purpose=purpose,
            location=location,
            data_categories=category,
            dpa_url=dpa_url,
        )
    typer.echo(f"{entry.name}: effective {entry.effective_at:%Y-%m-%d}; {notified} owners notified")
