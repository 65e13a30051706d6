"""Our own access log: one structured line per request, without what identifies a person.

A line names the route's template (``/v1/privacy/exports/{token}``), never the raw path or
its query string, where stream tokens, download tokens and search terms travel; the client's
address is truncated to its network (:func:`kallglot.core.logging.truncate_ip`). uvicorn's own
access log is off (:mod:`kallglot.api.server`).
"""

from __future__ import annotations

import logging
import re
import time

from starlette.types import Scope

from kallglot.core.logging import truncate_ip

logger = logging.getLogger("kallglot.access")

# A path segment that may be an id or a credential: anything with a digit or an underscore,
# or long; route-less paths (404s, static files) keep only their other segments.
_OPAQUE_SEGMENT = re.compile(r"^(?=.*[\d_])[^/]+$|^[^/]{25,}$")


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        return template
    return "/".join(
        "{}" if _OPAQUE_SEGMENT.match(segment) else segment
        for segment in str(scope.get("path", "")).split("/")
    )


def log_request(scope: Scope, status: int | None, started: float) -> None:
    client = scope.get("client")
    logger.info(
        "request",
        extra={
            "method": scope.get("method", "WEBSOCKET"),
            "route": route_of(scope),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "client_network": truncate_ip(client[0] if client else None),
        },
    )
