"""Maps every failure, ours or the framework's, to the one error envelope."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from kallglot.core.errors import KallglotError
from kallglot.core.logging import request_id_var

_HTTP_CODES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "authentication_required"),
    403: ("permission_error", "insufficient_permissions"),
    404: ("invalid_request_error", "route_not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "payload_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def error_body(
    error_type: str, code: str, message: str, param: str | None = None, **extra: Any
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "type": error_type,
        "code": code,
        "message": message,
        "param": param,
        "request_id": request_id_var.get(),
    }
    error.update({key: value for key, value in extra.items() if value is not None})
    return {"error": error}


def error_response(
    status: int,
    error_type: str,
    code: str,
    message: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        error_body(error_type, code, message, param, **extra), status_code=status, headers=headers
    )


def _kallglot_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KallglotError)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return error_response(
        exc.status_code,
        exc.error_type,
        exc.code,
        exc.message,
        exc.param,
        headers=headers,
        retry_after=exc.retry_after,
    )


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"type": "", "loc": (), "msg": "invalid"}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body",)]
    param = ".".join(location) or None
    kind = first.get("type", "")
    if kind == "json_invalid":
        return error_response(
            400, "invalid_request_error", "invalid_json", "The request body is not valid JSON."
        )
    if kind == "extra_forbidden":
        code, message = "unknown_field", f"Unknown field '{param}'."
    elif kind == "missing":
        code, message = "missing_required_field", f"Missing required field '{param}'."
    else:
        code, message = "invalid_field_value", f"Invalid value for '{param}': {first['msg']}."
    return error_response(422, "validation_error", code, message, param)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error_type, code = _HTTP_CODES.get(exc.status_code, ("api_error", "http_error"))
    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
    if exc.status_code == 404 and message == "Not Found":
        message = "No such route."
    return error_response(
        exc.status_code, error_type, code, message, headers=getattr(exc, "headers", None)
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(KallglotError, _kallglot_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


async def send_json(
    send: Send, status: int, payload: object, extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a whole JSON response from raw ASGI middleware."""
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": headers + (extra_headers or []),
        }
    )
    await send({"type": "http.response.body", "body": body})
