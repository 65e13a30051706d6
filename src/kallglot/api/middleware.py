"""Request context: request ids, body size limit, and the last-resort error envelope."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kallglot.api.errors import error_body, send_json
from kallglot.core.ids import new_id
from kallglot.core.logging import request_id_var

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-request-id"


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-ID``) and turns crashes into a 500 envelope.

    A crash is logged with its request id and stack trace; the client sees only
    the envelope, never the trace.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = new_id("req")
        token = request_id_var.set(request_id)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        try:
            if scope["type"] == "http" and self._too_large(scope):
                await send_json(
                    send_with_id,
                    413,
                    error_body(
                        "invalid_request_error",
                        "payload_too_large",
                        f"The request body exceeds {self.max_body_bytes} bytes.",
                    ),
                )
                return
            await self.app(scope, receive, send_with_id)
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
            request_id_var.reset(token)

    def _too_large(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    return int(value) > self.max_body_bytes
                except ValueError:
                    return True
        return False
