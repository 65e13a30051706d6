"""Telnyx: the call-control webhook answers an inbound call with media streaming, and the
stream joins the session.

Telnyx signs each webhook with Ed25519 over ``"{timestamp}|{body}"``; unsigned, forged or
stale ones (more than five minutes off) are refused before anything is looked up.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from typing import Any

import telnyx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Request, WebSocket
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from telnyx.resources.calls.actions import AsyncActionsResource

from kallglot.core.errors import (
    AuthenticationError,
    ServiceUnavailableError,
    UpstreamError,
    ValidationFailedError,
)
from kallglot.core.settings import Settings
from kallglot.realtime.hub import RealtimeHub
from kallglot.telephony.inbound import (
    InboundDecision,
    abandon_inbound,
    route_inbound,
    stream_url,
)
from kallglot.telephony.telnyx.bridge import TelnyxBridge

router = APIRouter(prefix="/v1/telephony/telnyx", tags=["telephony"])

MEDIA_PATH = "/v1/telephony/telnyx/media/{session_id}"
SIGNATURE_TOLERANCE_S = 300
_API_TIMEOUT_S = 10.0


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    call_control_id: str = Field(default="", max_length=200)
    direction: str = ""
    from_number: str = Field(default="", alias="from", max_length=64)
    to_number: str = Field(default="", alias="to", max_length=64)


class _EventData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    event_type: str = Field(max_length=100)
    payload: _Payload = Field(default_factory=_Payload)


class _Webhook(BaseModel):
    model_config = ConfigDict(extra="ignore")
    data: _EventData


@router.post(
    "/webhook",
    summary="Telnyx call-control webhook: answer an inbound call with a media stream",
    status_code=200,
)
async def call_control(request: Request) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    hub: RealtimeHub = request.app.state.realtime
    body = (await request.body()).decode("utf-8", "replace")
    _check_signature(settings, request, body)
    try:
        event = _Webhook.model_validate_json(body).data
    except ValidationError:
        raise ValidationFailedError("Not a Telnyx call-control event.", param="data") from None
    payload = event.payload
    if event.event_type != "call.initiated" or payload.direction != "incoming":
        return {"handled": False}  # other call events need nothing from us
    if not payload.call_control_id or not payload.to_number or not payload.from_number:
        raise ValidationFailedError(
            "call.initiated carries 'call_control_id', 'from' and 'to'.", param="payload"
        )
    decision = await asyncio.to_thread(
        route_inbound,
        hub,
        settings.stream_token_ttl,
        payload.to_number,
        payload.from_number,
        payload.call_control_id,
    )
    if decision.action == "duplicate":  # Telnyx delivered it again: it is being handled
        return {"handled": True, "action": "duplicate", "session_id": None}
    try:
        await _command(settings, payload.call_control_id, decision)
    except UpstreamError:
        if decision.action == "stream":
            await asyncio.to_thread(abandon_inbound, hub, decision)
        raise
    return {"handled": True, "action": decision.action, "session_id": decision.session_id or None}


def _check_signature(settings: Settings, request: Request, body: str) -> None:
    if settings.telnyx_public_key is None or settings.telnyx_api_key is None:
        raise ServiceUnavailableError("Telnyx is not configured.", code="telnyx_not_configured")
    try:
        key = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(settings.telnyx_public_key, validate=True)
        )
    except (binascii.Error, ValueError):
        raise ServiceUnavailableError(
            "The Telnyx public key is not a base64 Ed25519 key.", code="telnyx_not_configured"
        ) from None
    timestamp = request.headers.get("telnyx-timestamp", "")
    refused = AuthenticationError(
        "The request is not signed by Telnyx.", code="invalid_telnyx_signature"
    )
    try:
        signature_b64 = request.headers.get("telnyx-signature-ed25519", "")
        signature = base64.b64decode(signature_b64, validate=True)
        key.verify(signature, f"{timestamp}|{body}".encode())
        sent_at = int(timestamp)
    except (binascii.Error, ValueError, InvalidSignature):
        raise refused from None
    if abs(time.time() - sent_at) > SIGNATURE_TOLERANCE_S:
        raise refused  # a replay of an old, genuinely signed request


async def _command(settings: Settings, call_control_id: str, decision: InboundDecision) -> None:
    """Tell Telnyx what to do with the call, through its SDK."""
    assert settings.telnyx_api_key is not None
    client = telnyx.AsyncTelnyx(
        api_key=settings.telnyx_api_key.get_secret_value(),
        base_url=settings.telnyx_base_url,
        timeout=_API_TIMEOUT_S,
        max_retries=0,
    )
    # Built directly rather than as client.calls.actions: the SDK imports that resource
    # lazily on first use, ~1.4 s that would block the event loop (and every live call on
    # it) during the first webhook; importing it with this module moves that to startup.
    actions = AsyncActionsResource(client)
    try:
        async with client:
            if decision.action == "stream":
                path = MEDIA_PATH.format(session_id=decision.session_id)
                await actions.answer(
                    call_control_id,
                    stream_url=stream_url(settings.public_base_url, path),
                    stream_track="inbound_track",
                    stream_codec="PCMU",
                    stream_bidirectional_mode="rtp",
                    stream_bidirectional_codec="PCMU",
                    # Comes back in the stream's 'start' frame: the stream token, base64.
                    client_state=base64.b64encode(decision.stream_token.encode()).decode(),
                )
            elif decision.action == "unknown_number":
                await actions.reject(call_control_id, cause="CALL_REJECTED")
            else:  # busy, or no agent to take it
                await actions.reject(call_control_id, cause="USER_BUSY")
    except telnyx.APIError as exc:
        status = getattr(exc, "status_code", None)
        raise UpstreamError(
            f"Telnyx refused the call command (HTTP {status}).", code="carrier_error"
        ) from None


@router.websocket("/media/{session_id}")
async def media_stream(websocket: WebSocket, session_id: str) -> None:
    """Telnyx media streaming: the caller's audio in, translated speech, marks and clears out."""
    settings: Settings = websocket.app.state.settings
    await websocket.accept()
    bridge = TelnyxBridge(
        websocket, websocket.app.state.realtime, session_id, settings.telephony_media_idle_seconds
    )
    await bridge.run()
