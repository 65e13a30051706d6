"""The ASGI application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from kallglot import __version__
from kallglot.accounts.dependencies import PUBLIC
from kallglot.accounts.routes import router as identity_router
from kallglot.api import health
from kallglot.api.errors import install_error_handlers
from kallglot.api.idempotency import IdempotencyMiddleware
from kallglot.api.middleware import RequestContextMiddleware
from kallglot.api.ratelimit import RateLimitMiddleware
from kallglot.api.security_headers import SecurityHeadersMiddleware
from kallglot.audit.routes import router as audit_router
from kallglot.billing import install as billing_install
from kallglot.billing import routes as billing_routes
from kallglot.core.logging import configure_logging
from kallglot.core.settings import Settings, get_settings
from kallglot.crypto.keyring import Keyring, install_keyring
from kallglot.db.engine import build_engine, session_factory
from kallglot.infra import shared_state as infra_shared
from kallglot.privacy import install as privacy_install
from kallglot.privacy.routes import router as privacy_router
from kallglot.privacy.scheduler import start_retention_task
from kallglot.realtime import lifecycle as realtime_lifecycle
from kallglot.realtime import recordings, webhook_routes
from kallglot.realtime import routes as realtime_routes
from kallglot.realtime import stream as realtime_stream
from kallglot.realtime.engines import SpeechEngines
from kallglot.realtime.speech_engines import InstalledSpeechEngines
from kallglot.scale import failover as scale
from kallglot.scale import presence as scale_presence
from kallglot.telephony import transports as telephony
from kallglot.telephony.numbers.api import routers as numbers_routers
from kallglot.web import install_web


def create_app(
    settings: Settings | None = None, speech_engines: SpeechEngines | None = None
) -> FastAPI:
    """Build the app; the database must already be migrated (``kallglot db upgrade``)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, json_output=settings.log_json)
    engine = build_engine(settings.effective_database_url)
    sessions = session_factory(engine)
    # Rate limits, idempotency locks and presence: in process, or Redis across nodes.
    shared_state = infra_shared.install(sessions, settings.redis_url, settings.redis_prefix)
    scale_presence.watch(sessions)

    install_keyring(Keyring.from_settings(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        retention = start_retention_task(sessions, settings.retention_interval_seconds)
        async with (
            realtime_lifecycle.running(app, settings),
            scale.running(app, settings),
            telephony.running(app),
        ):
            yield
        if retention is not None:
            retention.cancel()
            with suppress(asyncio.CancelledError):
                await retention
        engine.dispose()
        shared_state.close()

    app = FastAPI(
        title="Kallglot API",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # served by the web app from its own assets: no CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.shared_state = shared_state
    install_error_handlers(app)
    # Starlette runs the middleware added last first: request context wraps idempotency.
    app.add_middleware(
        IdempotencyMiddleware,
        sessions=sessions,
        ttl=timedelta(hours=settings.idempotency_ttl_hours),
        shared=shared_state if settings.redis_url else None,
    )
    app.add_middleware(RateLimitMiddleware)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_request_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.trusted_proxies:
        # Outermost: every layer below sees the client's address, not the proxy's.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    realtime_lifecycle.install(app, settings, sessions, speech_engines or InstalledSpeechEngines())
    app.include_router(health.router, dependencies=[PUBLIC])
    app.include_router(identity_router)
    app.include_router(realtime_routes.router)
    app.include_router(realtime_routes.organization_router)
    app.include_router(realtime_stream.router, dependencies=[PUBLIC])
    app.include_router(webhook_routes.router)
    app.include_router(recordings.router)
    app.include_router(audit_router)
    app.include_router(privacy_router)
    for router in numbers_routers:
        app.include_router(router)
    billing_install.install(app, settings)
    privacy_install.install(app)
    app.include_router(billing_routes.router)
    app.include_router(billing_routes.analytics_router)
    telephony.install(app, settings)
    install_web(app)
    return app
