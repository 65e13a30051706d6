"""Shared fixtures: a migrated database on SQLite, and on PostgreSQL when
``KALLGLOT_TEST_DATABASE_URL`` is set; an app and a client on top of it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from kallglot.api.app import create_app
from kallglot.core.settings import PlanLimits, Settings, load_settings
from kallglot.db import migrate
from kallglot.db.engine import build_engine, normalise_url, session_factory
from kallglot.db.registry import metadata

# Identity factories (organizations, users with roles, API keys, signed-in clients).
pytest_plugins = ["tests.factories"]

# Real recorded speech (FLEURS, CC BY 4.0), shipped with the repository: see its LICENSE.md.
FLEURS_DIR = Path(__file__).resolve().parent / "data" / "speech" / "fleurs"

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("KALLGLOT_TEST_DATABASE_URL") else [])

# Slow tests whose subject is not the database (real models, real peers) run on SQLite only.
sqlite_only = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)


@dataclass
class MigratedDatabase:
    url: str
    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def backend(self) -> str:
        return self.engine.dialect.name


def _postgres_schema_url(schema: str) -> str:
    base = make_url(normalise_url(os.environ["KALLGLOT_TEST_DATABASE_URL"]))
    return base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MigratedDatabase]:
    """A database migrated to head once per backend and test run.

    On PostgreSQL each run gets its own schema so that concurrent runs never meet.
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'kallglot.db'}"
        admin = None
    else:
        schema = f"kg_test_{secrets.token_hex(6)}"
        admin = build_engine(os.environ["KALLGLOT_TEST_DATABASE_URL"])
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _postgres_schema_url(schema)
    migrate.upgrade(url)
    engine = build_engine(url)
    yield MigratedDatabase(url=url, engine=engine, sessions=session_factory(engine))
    engine.dispose()
    if admin is not None:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def database(migrated_database: MigratedDatabase) -> Iterator[MigratedDatabase]:
    """The migrated database, emptied again after the test."""
    yield migrated_database
    with migrated_database.engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(delete(table))


@pytest.fixture
def settings(database: MigratedDatabase, tmp_path: Path) -> Settings:
    return load_settings(
        env="test",
        database_url=database.url,
        var_dir=tmp_path / "var",
        log_json=True,
        # Cheap argon2id parameters keep the suite fast; production keeps the defaults.
        password_hash_time_cost=1,
        password_hash_memory_cost=64,
        password_hash_parallelism=1,
        # Tests walk every route many times a minute with one credential; the rate-limit
        # tests (tests/api/test_rate_limits.py) set tight limits of their own.
        plan_limits={
            "free": PlanLimits(
                requests_per_minute_per_key=100_000,
                requests_per_minute_per_organization=100_000,
                api_credits_per_month=100_000,
            )
        },
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
