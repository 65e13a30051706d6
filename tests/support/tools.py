"""Programs the tests drive (SIPp, baresip, Kamailio): `make setup` installs them from
deploy/apt-packages.txt, so a missing one fails the test instead of skipping it."""

from __future__ import annotations

import shutil

import pytest


def required(program: str, package: str) -> str:
    """The path of ``program``; fails the test if the setup did not install it."""
    path = shutil.which(program)
    if path is None:
        pytest.fail(
            f"{program} is missing: `make setup` installs {package} (deploy/apt-packages.txt)"
        )
    return path
