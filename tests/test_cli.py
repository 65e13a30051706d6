"""The command line: version, migrations, demo seed, and a server that becomes ready."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from kallglot import __version__
from kallglot.cli.main import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"kallglot {__version__}"


def test_bad_setting_stops_with_its_name(monkeypatch: object, tmp_path: Path) -> None:
    env = {**os.environ, "KALLGLOT_DATABASE_URL": "oracle://x", "KALLGLOT_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "kallglot", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "KALLGLOT_DATABASE_URL" in result.stderr


def test_db_upgrade_and_demo_seed_are_repeatable(tmp_path: Path) -> None:
    env = {**os.environ, "KALLGLOT_VAR_DIR": str(tmp_path)}
    env.pop("KALLGLOT_DATABASE_URL", None)
    for _ in range(2):
        for command in (["db", "upgrade"], ["demo", "seed"]):
            result = subprocess.run(
                [sys.executable, "-m", "kallglot", *command],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert result.returncode == 0, result.stderr
    assert "Demo Contact Centre" in result.stdout
    assert (tmp_path / "kallglot.db").exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_creates_the_database_and_becomes_ready(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "KALLGLOT_VAR_DIR": str(tmp_path)}
    env.pop("KALLGLOT_DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "kallglot", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        status = None
        for _ in range(300):
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert status == 200
        assert (tmp_path / "kallglot.db").exists()
        schema = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).json()
        assert schema["info"]["title"] == "Kallglot API"
    finally:
        server.terminate()
        server.wait(timeout=20)
