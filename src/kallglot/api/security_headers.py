"""Secure response headers on every HTTP response, and HSTS on responses sent over TLS."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Browsers ignore HSTS received over plain http (RFC 6797 §8.1), so it is sent only over https.
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
# Everything from our own origin, nothing inline: an injected <script> or on…= attribute does
# not run. 'self' covers the console's same-origin WebSocket; data: images are chart exports.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self' blob:; worker-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), geolocation=(), payment=()"),
)
CSP_HEADER = b"content-security-policy"


class SecurityHeadersMiddleware:
    """Adds ``SECURE_HEADERS`` to every response (a route may not override them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = (
            *SECURE_HEADERS,
            (CSP_HEADER, CONTENT_SECURITY_POLICY.encode()),
            *((HSTS,) if scope.get("scheme") == "https" else ()),
        )
        names = {name for name, _ in extra}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = [*kept, *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
