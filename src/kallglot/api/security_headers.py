"""Secure response headers on every HTTP response, and HSTS on responses sent over TLS."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Browsers ignore HSTS received over plain http (RFC 6797 §8.1), so it is sent only over https.
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
SECURE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), geolocation=(), payment=()"),
    # Framing is refused; script sources are left to the pages (the API docs load a CDN).
    (b"content-security-policy", b"frame-ancestors 'none'; base-uri 'none'; object-src 'none'"),
)


class SecurityHeadersMiddleware:
    """Adds ``SECURE_HEADERS`` to every response (a route may not override them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = SECURE_HEADERS + ((HSTS,) if scope.get("scheme") == "https" else ())
        names = {name for name, _ in extra}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = [*kept, *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
