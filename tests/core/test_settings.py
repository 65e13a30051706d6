"""A bad setting stops start-up with a message naming it; secrets are handled with care."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from kallglot.core.errors import ConfigurationError
from kallglot.core.settings import load_settings


def test_bad_database_url_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="KALLGLOT_DATABASE_URL"):
        load_settings(database_url="mysql://nope")


def test_bad_master_key_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="KALLGLOT_MASTER_KEY"):
        load_settings(master_key="dG9vIHNob3J0")


def test_production_requires_an_explicit_master_key() -> None:
    with pytest.raises(ConfigurationError, match="KALLGLOT_MASTER_KEY is required"):
        load_settings(env="production", database_url="postgresql+psycopg://db/kallglot")


def test_embedded_default_generates_a_private_master_key_once(tmp_path: Path) -> None:
    settings = load_settings(var_dir=tmp_path)
    key = settings.master_key_bytes()
    assert len(key) == 32
    assert settings.master_key_bytes() == key
    key_file = tmp_path / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_explicit_master_key_is_used(tmp_path: Path) -> None:
    raw = bytes(range(32))
    settings = load_settings(var_dir=tmp_path, master_key=base64.b64encode(raw).decode())
    assert settings.master_key_bytes() == raw
    assert not (tmp_path / "master.key").exists()


def test_default_database_is_sqlite_under_var(tmp_path: Path) -> None:
    settings = load_settings(var_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite:///{tmp_path.as_posix()}/kallglot.db"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KALLGLOT_PUBLIC_BASE_URL", "https://calls.example.com/")
    assert load_settings().public_base_url == "https://calls.example.com"
