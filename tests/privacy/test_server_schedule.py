"""The server runs the purge job on its own, and stops it on shutdown."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kallglot.api.app import create_app
from kallglot.core.settings import Settings
from kallglot.privacy.models import PurgeRun
from tests.conftest import MigratedDatabase


def purge_runs(database: MigratedDatabase) -> int:
    with database.sessions.begin() as session:
        return int(session.scalar(select(func.count()).select_from(PurgeRun)) or 0)


def test_the_app_lifespan_schedules_the_purge(
    database: MigratedDatabase, settings: Settings
) -> None:
    application = create_app(settings.model_copy(update={"retention_interval_seconds": 1}))
    try:
        with TestClient(application):
            deadline = time.monotonic() + 15
            while purge_runs(database) == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert purge_runs(database) >= 1
    finally:
        application.state.engine.dispose()


def test_a_zero_interval_disables_the_schedule(
    database: MigratedDatabase, settings: Settings
) -> None:
    application = create_app(settings.model_copy(update={"retention_interval_seconds": 0}))
    try:
        with TestClient(application) as client:
            assert client.get("/healthz").status_code == 200
        assert purge_runs(database) == 0
    finally:
        application.state.engine.dispose()
