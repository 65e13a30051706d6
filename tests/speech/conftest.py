"""Speech fixtures: the shared FLEURS clips, decoded once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kallglot.speech import audio, registry
from kallglot.speech.audio import Int16Array
from tests.conftest import FLEURS_DIR

LANGUAGES = ("de", "en", "es", "fr", "pt")


def clip_path(language: str, index: int) -> Path:
    return FLEURS_DIR / f"fleurs-{language}-{index:03d}.ogg"


def reference(language: str, index: int) -> str:
    return clip_path(language, index).with_suffix(".txt").read_text(encoding="utf-8").strip()


def clip(language: str, index: int) -> Int16Array:
    return audio.decode_file(clip_path(language, index))


def tone(seconds: float, rate: int = 16_000, freq: float = 440.0) -> Int16Array:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16)


@pytest.fixture(scope="session", autouse=True)
def _close_engines() -> Iterator[None]:
    """Stop the long-lived Apertium pipelines when the run ends."""
    yield
    registry.close_all()
