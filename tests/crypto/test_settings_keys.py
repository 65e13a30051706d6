"""Previous master keys: parsed from a comma-separated list, a bad one named at start-up."""

from __future__ import annotations

import base64
import secrets

import pytest

from kallglot.core.errors import ConfigurationError
from kallglot.core.settings import load_settings


def test_previous_master_keys_are_a_comma_separated_list() -> None:
    keys = [secrets.token_bytes(32) for _ in range(2)]
    encoded = " , ".join(base64.b64encode(key).decode() for key in keys)
    settings = load_settings(previous_master_keys=encoded)
    assert settings.previous_master_keys_bytes() == keys
    assert load_settings().previous_master_keys_bytes() == []
    assert encoded not in repr(settings)


def test_a_bad_previous_master_key_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="KALLGLOT_PREVIOUS_MASTER_KEYS"):
        load_settings(previous_master_keys="dG9vIHNob3J0")
