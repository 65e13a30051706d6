"""Installs the transports in the app: routers, and their live state started and stopped."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from kallglot.accounts.dependencies import PUBLIC
from kallglot.core.settings import Settings
from kallglot.telephony.prompts import Prompts
from kallglot.telephony.sip import GatewayConfig, SipGateway
from kallglot.telephony.telnyx.routes import router as telnyx_router
from kallglot.telephony.twilio.routes import router as twilio_router
from kallglot.telephony.webrtc.peer import WebRtcLegs
from kallglot.telephony.webrtc.routes import router as webrtc_router


def install(app: FastAPI, settings: Settings) -> None:
    """Routers under ``/v1/telephony`` (and the session's WebRTC offer endpoint)."""
    app.include_router(twilio_router, dependencies=[PUBLIC])
    app.state.prompts = Prompts()
    app.include_router(webrtc_router, dependencies=[PUBLIC])
    app.state.webrtc = WebRtcLegs(settings)
    app.include_router(telnyx_router, dependencies=[PUBLIC])


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[None]:
    """Live transports of this node; every leg still open is closed on shutdown."""
    settings: Settings = app.state.settings
    app.state.sip_gateway = None
    gateway = None
    if settings.sip_listen is not None:  # no SIP listener unless asked for
        gateway = SipGateway(app.state.realtime, GatewayConfig.from_settings(settings))
        await gateway.start()
        app.state.sip_gateway = gateway
    try:
        yield
    finally:
        if gateway is not None:
            await gateway.stop()
        await app.state.webrtc.close_all()
