"""Every ``kallglot`` command runs on a freshly migrated database, each in a process of its own.

A process of its own matters: a command imports only the modules it uses, so a table it
references but never imported breaks there and nowhere else (``numbers register-sip`` once
crashed with ``NoReferencedTableError`` on a fresh database while every in-process test passed).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import text

from kallglot.cli.main import app
from kallglot.db.engine import build_engine
from tests.conftest import BACKENDS, _postgres_schema_url

REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    """Command lines run in order (placeholders: ``{org}``, ``{tmp}``); the last one is judged."""

    lines: tuple[tuple[str, ...], ...]
    exit_code: int = 0
    says: str = ""


def case(*words: str, exit_code: int = 0, says: str = "") -> Case:
    return Case((words,), exit_code, says)


CASES: dict[str, Case] = {
    "db upgrade": case("db", "upgrade", says="database at"),
    "db downgrade": Case((("db", "downgrade", "0007"), ("db", "upgrade")), says="database at"),
    "demo seed": case("demo", "seed", says="Demo Contact Centre"),
    "doctor": case("doctor", says="database"),
    "audit verify": case("audit", "verify", says="ok"),
    "mail outbox": case("mail", "outbox"),
    "keys rotate": case("keys", "rotate", says="re-wrapped"),
    "keys status": case("keys", "status", says="current master key"),
    "retention run": case("retention", "run", says="purge"),
    "retention classes": case("retention", "classes", says="days"),
    "privacy subprocessor-add": case(
        "privacy",
        "subprocessor-add",
        "--name",
        "Speech Cloud SA",
        "--purpose",
        "backup",
        "--location",
        "EU",
        "--dpa-url",
        "https://example.org/dpa",
        "--category",
        "contact",
        says="effective",
    ),
    "backup create": case("backup", "create", "--output", "{tmp}/b.kgbackup", says="written"),
    "backup verify": Case(
        (
            ("backup", "create", "--output", "{tmp}/b.kgbackup"),
            ("backup", "verify", "{tmp}/b.kgbackup"),
        ),
        says="intact",
    ),
    "backup restore": Case(
        (
            ("backup", "create", "--output", "{tmp}/b.kgbackup"),
            ("backup", "restore", "{tmp}/b.kgbackup", "--yes"),
        ),
        says="restored",
    ),
    "backup list": case("backup", "list"),
    "backup prune": case("backup", "prune", says="backups deleted"),
    "speech languages": case("speech", "languages", says="Speech recognition"),
    "models list": case("models", "list", says="whisper"),
    "models verify": case("models", "verify", says="whisper"),
    "models install": case("models", "install", says="installed and verified"),
    "numbers requirements": case("numbers", "requirements", "--country", "DE", says="DE"),
    "numbers register-sip": case(
        "numbers", "register-sip", "{org}", "+4930901820", "--country", "DE", says="num_"
    ),
    "numbers expire-bundles": case("numbers", "expire-bundles", says="expired 0 bundles"),
    "numbers refresh-bundles": case("numbers", "refresh-bundles", says="0 bundles decided"),
    "billing meter": case("billing", "meter", says="usage records"),
    # Without Stripe configured the command refuses with the setting to set, not a traceback.
    "billing report": case(
        "billing", "report", exit_code=1, says="Stripe is not configured (KALLGLOT_STRIPE_API_KEY)"
    ),
    "billing credit": case("billing", "credit", "{org}", "10", "--reference", "t1", says="booked"),
    "billing invoice": case(
        "billing",
        "invoice",
        "{org}",
        "--from",
        "2026-11-01",
        "--to",
        "2026-12-01",
        "--out",
        "{tmp}/i.pdf",
        exit_code=1,
        says="no enterprise billing profile",
    ),
}

# Commands that touch no database, run with real models or peers by their own tests.
ELSEWHERE = {
    "serve": "tests/test_cli.py",
    "transcribe": "tests/speech/test_cli_speech.py",
    "translate-audio": "tests/speech/test_cli_speech.py",
    "models pull": "tests/speech/test_cli_speech.py",
}


def command_paths(group: Any, prefix: str = "") -> Iterator[str]:
    # Typer's groups are click-like (``commands``), whichever click it builds on.
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if hasattr(command, "commands"):
            yield from command_paths(command, f"{path} ")
        else:
            yield path


def test_every_command_has_a_case() -> None:
    root = typer.main.get_command(app)
    assert set(command_paths(root)) == set(CASES) | set(ELSEWHERE)
    for path in ELSEWHERE.values():
        assert (REPOSITORY / path).is_file()


def kallglot(env: dict[str, str], *words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kallglot", *words],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )


@dataclass
class Installation:
    """A var folder (master key, demo credentials) and a database migrated and seeded once."""

    var_dir: Path
    database_url: str | None
    organization_id: str


@pytest.fixture(scope="module", params=BACKENDS)
def installation(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Installation]:
    var_dir = tmp_path_factory.mktemp("var")
    env = {**os.environ, "KALLGLOT_VAR_DIR": str(var_dir)}
    env.pop("KALLGLOT_DATABASE_URL", None)
    schema = None
    if request.param == "postgresql":
        schema = f"kg_cli_{secrets.token_hex(6)}"
        admin = build_engine(os.environ["KALLGLOT_TEST_DATABASE_URL"])
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        env["KALLGLOT_DATABASE_URL"] = _postgres_schema_url(schema)
    for words in (("db", "upgrade"), ("demo", "seed")):
        result = kallglot(env, *words)
        assert result.returncode == 0, result.stderr
    match = re.search(r"org_\w+", result.stdout)
    assert match is not None
    yield Installation(var_dir, env.get("KALLGLOT_DATABASE_URL"), match.group())
    if schema is not None:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_command_runs_on_a_fresh_database(
    name: str, installation: Installation, tmp_path: Path
) -> None:
    # On SQLite each command gets its own copy of the installation; PostgreSQL's is shared.
    var_dir = tmp_path / "var"
    shutil.copytree(installation.var_dir, var_dir)
    env = {
        **os.environ,
        "KALLGLOT_VAR_DIR": str(var_dir),
        "KALLGLOT_SPEECH_MODELS_DIR": str(REPOSITORY / "var" / "models"),
    }
    env.pop("KALLGLOT_DATABASE_URL", None)
    if installation.database_url:
        env["KALLGLOT_DATABASE_URL"] = installation.database_url
    spec = CASES[name]
    for line in spec.lines:
        words = [w.format(org=installation.organization_id, tmp=tmp_path) for w in line]
        result = kallglot(env, *words)
        output = result.stdout + result.stderr
        assert "Traceback" not in output, output
    assert result.returncode == spec.exit_code, output
    assert spec.says in output
