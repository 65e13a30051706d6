"""A real server on a free port (its public URL known to the settings) and Debian's
Chromium driven by Playwright, with a fake microphone playing a WAV file."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, sync_playwright

from kallglot.core.settings import Settings, load_settings
from kallglot.speech.audio import decode_file
from tests.conftest import FLEURS_DIR, MigratedDatabase
from tests.support.live import LiveServer, free_port, serving

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# The agent's microphone: silence while the caller speaks, then an English sentence.
AGENT_CLIP = FLEURS_DIR / "fleurs-en-004.ogg"
AGENT_LEAD_SILENCE_S = 12


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings(database: MigratedDatabase, tmp_path: Path, port: int) -> Settings:
    return load_settings(
        env="test",
        database_url=database.url,
        var_dir=tmp_path / "var",
        log_json=True,
        public_base_url=f"http://127.0.0.1:{port}",
        # The browser talks plain http to loopback.
        session_cookie_secure=False,
        # A configured carrier: a number that needs verification is refused before any call.
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="not-used",
        twilio_base_url="http://127.0.0.1:9",
        password_hash_time_cost=1,
        password_hash_memory_cost=64,
        password_hash_parallelism=1,
    )


@pytest.fixture
def web_server(app: FastAPI, port: int) -> Iterator[LiveServer]:
    with serving(app, port) as server:
        yield server


@pytest.fixture(scope="session")
def agent_microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    speech = decode_file(AGENT_CLIP)
    silence = np.zeros(16000 * AGENT_LEAD_SILENCE_S, dtype=np.int16)
    tail = np.zeros(16000 * 3, dtype=np.int16)
    path = tmp_path_factory.mktemp("mic") / "agent.wav"
    soundfile.write(path, np.concatenate([silence, speech, tail]), 16000, subtype="PCM_16")
    return path


# Module scope: a live sync_playwright keeps its event loop running in this thread, which
# would break every asyncio test that runs after the browser tests.
@pytest.fixture(scope="module")
def browser(agent_microphone: Path) -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed (deploy/apt-packages.txt)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={agent_microphone}",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path
