"""``kallglot keys …``, ``kallglot retention …`` and ``kallglot privacy …``: key rotation,
the purge job and the sub-processor list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from kallglot.cli.common import installed_keyring, reported_errors, settings_or_exit

keys_app = typer.Typer(help="Encryption keys (envelope encryption at rest).", no_args_is_help=True)
retention_app = typer.Typer(help="Retention of personal data.", no_args_is_help=True)
privacy_app = typer.Typer(help="Privacy: the public sub-processor list.", no_args_is_help=True)
backup_app = typer.Typer(
    help="Encrypted backups of the database and blobs (disaster recovery only).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(retention_app, name="retention")
    app.add_typer(privacy_app, name="privacy")
    app.add_typer(backup_app, name="backup")


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

    settings = settings_or_exit()
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

    settings = settings_or_exit()
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

    settings = settings_or_exit()
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

    settings = settings_or_exit()
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


def _progress(message: str) -> None:
    typer.echo(message, err=True)


@backup_app.command("create")
def backup_create(
    output: Annotated[
        Path | None, typer.Option(help="Archive to write (default: in KALLGLOT_BACKUP_DIR).")
    ] = None,
) -> None:
    """Write an encrypted archive of the database and the blob store (online, consistent)."""
    from kallglot.privacy.backup import create_backup

    settings = settings_or_exit()
    with reported_errors(with_code=True):
        path, manifest = create_backup(
            settings, installed_keyring(settings), output=output, progress=_progress
        )
    rows = sum(table["rows"] for table in manifest.tables.values())
    typer.echo(
        f"backup {manifest.backup_id} written to {path}: {rows} rows, "
        f"{manifest.blobs['count']} blobs, schema {manifest.schema_revision}"
    )


@backup_app.command("verify")
def backup_verify(path: Annotated[Path, typer.Argument(help="The archive to check.")]) -> None:
    """Decrypt and check a whole archive (key, integrity, counts, checksums) without restoring."""
    from kallglot.privacy.backup import verify_backup

    settings = settings_or_exit()
    with reported_errors(with_code=True):
        manifest = verify_backup(path, installed_keyring(settings))
    rows = sum(table["rows"] for table in manifest.tables.values())
    typer.echo(
        f"backup {manifest.backup_id} of {manifest.created_at:%Y-%m-%d %H:%M:%S} UTC is intact: "
        f"{rows} rows, {manifest.blobs['count']} blobs, schema {manifest.schema_revision}"
    )


@backup_app.command("restore")
def backup_restore(
    path: Annotated[Path, typer.Argument(help="The archive to restore.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Replace a database that already holds data.")
    ] = False,
    without_erasure_ledger: Annotated[
        bool,
        typer.Option(
            "--without-erasure-ledger",
            help="Restore although the erasure ledger is missing or older than the archive "
            "(subjects erased since may come back; recorded in the audit log).",
        ),
    ] = False,
) -> None:
    """Restore an archive into this installation (stop the server first).

    Every erasure recorded in the erasure ledger after the backup was taken is applied again;
    without a ledger at least as new as the archive the restore is refused.
    """
    from kallglot.privacy.restore import restore_backup

    settings = settings_or_exit()
    with reported_errors(with_code=True):
        report = restore_backup(
            settings,
            installed_keyring(settings),
            path,
            overwrite=yes,
            without_erasure_ledger=without_erasure_ledger,
            progress=_progress,
        )
    typer.echo(
        f"restored backup {report.manifest.backup_id}: {report.rows} rows, {report.blobs} blobs; "
        f"{len(report.erasures_reapplied)} erasures applied again"
    )


@backup_app.command("list")
def backup_list() -> None:
    """The archives in the backup folder, oldest first."""
    from kallglot.privacy.backup import list_backups

    for backup in list_backups(settings_or_exit()):
        typer.echo(
            f"{backup.created_at:%Y-%m-%dT%H:%M:%SZ}  {backup.backup_id}  "
            f"{backup.size} bytes  {backup.path}"
        )


@backup_app.command("prune")
def backup_prune(
    days: Annotated[
        int | None,
        typer.Option(min=1, help="Keep this many days (default: KALLGLOT_BACKUP_RETENTION_DAYS)."),
    ] = None,
) -> None:
    """Delete archives older than the backup retention period (35 days by default)."""
    from kallglot.privacy.backup import prune_backups

    removed = prune_backups(settings_or_exit(), days=days)
    for backup in removed:
        typer.echo(f"deleted {backup.path}")
    typer.echo(f"{len(removed)} backups deleted")
