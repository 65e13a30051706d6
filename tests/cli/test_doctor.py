"""``kallglot doctor`` names what is wrong with a node and how to fix it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.live import free_port

REPOSITORY = Path(__file__).resolve().parents[2]


def doctor(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KALLGLOT_VAR_DIR": str(tmp_path),
        "KALLGLOT_SPEECH_MODELS_DIR": str(REPOSITORY / "var" / "models"),
    }
    env.pop("KALLGLOT_DATABASE_URL", None)
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "kallglot", "doctor"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )


def test_doctor_fails_on_an_unmigrated_database_and_an_unreachable_redis(tmp_path: Path) -> None:
    # A port nobody listens on: Redis is configured but down.
    result = doctor(tmp_path, KALLGLOT_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert result.returncode == 1
    assert "FAIL  database: " in result.stdout
    assert "run `kallglot db upgrade`" in result.stdout
    assert "FAIL  Redis: unreachable" in result.stdout
    assert not (tmp_path / "kallglot.db").exists()  # looking created nothing


def test_doctor_passes_on_a_migrated_node_and_refuses_http_in_production(tmp_path: Path) -> None:
    env = {**os.environ, "KALLGLOT_VAR_DIR": str(tmp_path)}
    env.pop("KALLGLOT_DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "kallglot", "db", "upgrade"], env=env, check=True)
    assert doctor(tmp_path).returncode == 0
    key = "A" * 43 + "="
    production = doctor(
        tmp_path,
        KALLGLOT_ENV="production",
        KALLGLOT_MASTER_KEY=key,
        KALLGLOT_DATABASE_URL=f"sqlite:///{tmp_path / 'kallglot.db'}",
    )
    assert production.returncode == 1
    assert "FAIL  public URL: http://127.0.0.1:8000 is not https" in production.stdout
