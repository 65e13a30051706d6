"""Secure headers, HSTS over TLS only, TLS options of ``kallglot serve``, SQLite secure_delete,
and a purge that is running when the server stops."""

from __future__ import annotations

import asyncio
import threading

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from kallglot.cli.main import app as cli
from kallglot.privacy.retention import PurgeBatch, PurgeRegistry
from kallglot.privacy.scheduler import purge_periodically
from tests.conftest import MigratedDatabase, sqlite_only
from tests.crypto.scratch import make_org


def test_every_response_carries_secure_headers_and_hsts_only_over_https(app: FastAPI) -> None:
    # Without ``with`` the client skips the lifespan (no speech warm-up): headers need none.
    plain = TestClient(app)
    response = plain.get("/healthz")
    missing = plain.get("/v1/no-such-route")
    for answer in (response, missing):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert "strict-transport-security" not in answer.headers
    hsts = (
        TestClient(app, base_url="https://testserver")
        .get("/healthz")
        .headers["strict-transport-security"]
    )
    assert hsts.startswith("max-age=63072000")


def test_serve_refuses_a_certificate_without_its_key(tmp_path: object) -> None:
    result = CliRunner().invoke(cli, ["serve", "--tls-cert", __file__])
    assert result.exit_code == 2
    assert "--tls-cert and --tls-key go together" in result.output


@sqlite_only
def test_sqlite_overwrites_deleted_data(database: MigratedDatabase) -> None:
    with database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA secure_delete")).scalar() == 1


async def test_shutdown_waits_for_a_running_purge(scratch: MigratedDatabase) -> None:
    make_org(scratch)
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow_purger(batch: PurgeBatch) -> int:
        started.set()
        release.wait(10)
        finished.set()
        return 0

    registry = PurgeRegistry.with_builtin_classes()
    registry.register_purger("transcripts", "slow", slow_purger)
    task = asyncio.create_task(purge_periodically(scratch.sessions, 0.01, registry))
    await asyncio.to_thread(started.wait, 10)
    task.cancel()
    for _ in range(5):  # loop turns, not time: the cancellation is delivered on the next
        await asyncio.sleep(0)
    assert not task.done()  # still waiting for the purge thread
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished.is_set()
