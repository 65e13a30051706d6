from __future__ import annotations

from pathlib import Path

import pytest

from kallglot.core.settings import Settings
from tests.crypto.scratch import blob_store, keyring, scratch

__all__ = ["backup_settings", "blob_store", "keyring", "scratch"]


@pytest.fixture
def backup_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The test settings, with the blob folder the ``blob_store`` fixture writes to."""
    return settings.model_copy(update={"blob_dir": tmp_path / "blobs"})
