"""How uvicorn serves the app (``kallglot serve`` and the tests' live servers alike)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI


def server_config(
    app: FastAPI,
    host: str,
    port: int,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    **options: Any,
) -> uvicorn.Config:
    """uvicorn's settings for Kallglot.

    Its access log is off (ours leaves out query strings and full addresses), and it believes
    no ``X-Forwarded-*`` header: the app does, from ``KALLGLOT_TRUSTED_PROXIES`` only
    (uvicorn's default trusts any loopback peer).
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        **options,
    )
