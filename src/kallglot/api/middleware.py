"""Request context: request ids, body size limit, the access log line, and the last-resort
error envelope."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kallglot.api.access_log import log_request
from kallglot.api.errors import error_body, send_json
from kallglot.core.ids import new_id
from kallglot.core.logging import request_id_var
from kallglot.core.settings import Settings
from kallglot.http.body_limits import BODY_LIMIT_EXTENSION

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-request-id"


class BodyTooLarge(StarletteHTTPException):
    """Raised while the body arrives; an HTTP exception so that FastAPI's body parsing passes
    it on (it turns any other error into a 400) and the error handlers answer 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body exceeds {limit} bytes.")


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-ID``) and turns crashes into a 500 envelope.

    A crash is logged with its request id and stack trace; the client sees only
    the envelope, never the trace.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._uploads: list[tuple[str, re.Pattern[str], int]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = new_id("req")
        token = request_id_var.set(request_id)
        started = False
        status: int | None = None
        began = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "websocket.accept":
                status = 101
            elif message["type"] == "websocket.close" and status is None:
                status = 403  # refused before the handshake completed
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        limit = self._limit_for(scope)
        received = 0

        async def counted_receive() -> Message:
            # A chunked body announces no length: it is counted as it arrives.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            if scope["type"] == "http" and self._too_large(scope, limit):
                raise BodyTooLarge(limit)
            await self.app(
                scope, counted_receive if scope["type"] == "http" else receive, send_with_id
            )
        except BodyTooLarge as exc:
            # Raised outside the routes (before them, or in a middleware reading the body).
            if not started:
                await send_json(
                    send_with_id,
                    413,
                    error_body("invalid_request_error", "payload_too_large", str(exc.detail)),
                    [(b"connection", b"close")],
                )
        except Exception:
            logger.exception("unhandled error", extra={"request_id": request_id})
            if scope["type"] == "http" and not started:
                await send_json(
                    send_with_id,
                    500,
                    error_body(
                        "api_error",
                        "internal_error",
                        "Something went wrong on our side. "
                        "Quote the request id when you contact support.",
                    ),
                )
        finally:
            log_request(scope, status or (500 if scope["type"] == "http" else None), began)
            request_id_var.reset(token)

    def _limit_for(self, scope: Scope) -> int:
        """The default limit, or the larger one of the upload route the request is for."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            return self.max_body_bytes
        if self._uploads is None:
            self._uploads = _upload_routes(scope.get("app"))
        for method, pattern, limit in self._uploads:
            if scope["method"] == method and pattern.match(scope["path"]):
                return limit
        return self.max_body_bytes

    @staticmethod
    def _too_large(scope: Scope, limit: int) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    return int(value) > limit
                except ValueError:
                    return True
        return False


def _upload_routes(app: Any) -> list[tuple[str, re.Pattern[str], int]]:
    settings: Settings | None = getattr(getattr(app, "state", None), "settings", None)
    if settings is None or not hasattr(app, "openapi"):
        return []
    uploads = []
    for path, operations in app.openapi().get("paths", {}).items():
        for method, operation in operations.items():
            setting = operation.get(BODY_LIMIT_EXTENSION) if isinstance(operation, dict) else None
            if setting:
                pattern, _format, _converters = compile_path(path)
                uploads.append((method.upper(), pattern, int(getattr(settings, setting))))
    return uploads
