"""Model installation: Whisper base joined from its two packages and checked; packaged
files checked against their RECORD hashes; the hub path fails clearly offline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kallglot.core.settings import get_settings
from kallglot.speech import models
from kallglot.speech.errors import ModelDownloadError


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("KALLGLOT_SPEECH_MODELS_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    yield tmp_path / "models"
    get_settings.cache_clear()


def test_install_joins_whisper_base_and_verifies_everything(models_dir: Path) -> None:
    statuses = {s.name: s for s in models.install_models()}
    whisper = statuses["whisper-base"]
    assert whisper.installed
    assert whisper.intact is True
    assert (models_dir / "whisper-base" / "model.bin").is_file()
    for name in ("piper-en_US-joe-medium", "bergamot-en-pt", "bergamot-pt-en", "silero-vad"):
        assert statuses[name].installed
        assert statuses[name].intact is True
    assert statuses["apertium-spa-eng"].installed
    assert statuses["espeak-ng"].installed


def test_install_is_idempotent_and_repairs_a_truncated_model(models_dir: Path) -> None:
    target = models.install_whisper_base()
    model = target / "model.bin"
    mtime = model.stat().st_mtime_ns
    assert models.install_whisper_base() == target
    assert model.stat().st_mtime_ns == mtime
    with model.open("r+b") as handle:
        handle.truncate(1000)
    assert not models.model_statuses()[0].installed
    models.install_whisper_base()
    assert models.model_statuses(verify=True)[0].intact is True


def test_verify_catches_a_damaged_model(models_dir: Path) -> None:
    model = models.install_whisper_base() / "model.bin"
    with model.open("r+b") as handle:
        handle.seek(4096)
        handle.write(b"\xff" * 16)
    status = models.model_statuses(verify=True)[0]
    assert status.installed
    assert status.intact is False


def test_pull_of_an_unknown_model_names_the_known_ones(models_dir: Path) -> None:
    with pytest.raises(ModelDownloadError, match="whisper-small"):
        models.pull_model("gpt-9")


def test_pull_without_network_fails_with_a_clear_message(models_dir: Path) -> None:
    # a closed local port stands in for "no network": the real hub client, a real failure
    with pytest.raises(ModelDownloadError, match="no network access"):
        models.pull_model("whisper-small", timeout_s=3, endpoint="http://127.0.0.1:9")
    assert not (models_dir / "whisper-small" / "model.bin").exists()
