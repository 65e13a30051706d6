"""The session cookie is Secure (and ``__Host-``) everywhere but local development over http."""

from __future__ import annotations

from kallglot.accounts.sessions import PLAIN_COOKIE, SECURE_COOKIE, cookie_name
from kallglot.core.settings import load_settings


def test_secure_cookie_unless_developing_over_plain_http() -> None:
    development = load_settings(env="development", public_base_url="http://127.0.0.1:8000")
    assert not development.effective_session_cookie_secure
    assert cookie_name(development) == PLAIN_COOKIE
    for settings in (
        load_settings(env="development", public_base_url="https://dev.example.com"),
        load_settings(env="test"),
        load_settings(
            env="production",
            database_url="postgresql+psycopg://db/kallglot",
            master_key="A" * 43 + "=",
            public_base_url="http://behind-a-proxy.example.com",
        ),
    ):
        assert settings.effective_session_cookie_secure
        assert cookie_name(settings) == SECURE_COOKIE
    forced = load_settings(env="development", session_cookie_secure=True)
    assert cookie_name(forced) == SECURE_COOKIE
