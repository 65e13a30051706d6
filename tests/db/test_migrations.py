"""One migration chain that goes up, down and up again on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from kallglot.db import migrate
from kallglot.db.registry import metadata
from tests.conftest import MigratedDatabase


def table_names(database: MigratedDatabase) -> set[str]:
    return set(inspect(database.engine).get_table_names()) - {"alembic_version"}


def test_round_trip_upgrade_downgrade_upgrade(migrated_database: MigratedDatabase) -> None:
    database = migrated_database
    assert table_names(database) == set(metadata.tables)
    migrate.downgrade(database.url, "base")
    assert table_names(database) == set()
    migrate.upgrade(database.url)
    assert table_names(database) == set(metadata.tables)
    assert migrate.current_revision(database.engine) == migrate.head_revision(database.url)


def test_models_and_migrations_agree(migrated_database: MigratedDatabase) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with migrated_database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []
