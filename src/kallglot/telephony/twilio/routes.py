"""Twilio: the voice webhook answers with ``<Connect><Stream>``; the stream joins the session."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response, WebSocket
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, VoiceResponse

from kallglot.core.errors import (
    AuthenticationError,
    ServiceUnavailableError,
    ValidationFailedError,
)
from kallglot.core.settings import Settings
from kallglot.realtime.hub import RealtimeHub
from kallglot.telephony.inbound import route_inbound, stream_url
from kallglot.telephony.twilio.bridge import TwilioBridge

router = APIRouter(prefix="/v1/telephony/twilio", tags=["telephony"])

MEDIA_PATH = "/v1/telephony/twilio/media/{session_id}"


@router.post("/voice", summary="Twilio voice webhook: answer a call with a media stream")
async def voice(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    hub: RealtimeHub = request.app.state.realtime
    params = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    _check_signature(settings, request, params)
    if not params.get("To") or not params.get("From"):
        raise ValidationFailedError("Twilio sends 'To' and 'From'.", param="To")
    twiml = await asyncio.to_thread(_answer, hub, settings, params["To"], params["From"])
    return Response(twiml, media_type="application/xml")


def _check_signature(settings: Settings, request: Request, params: dict[str, str]) -> None:
    if settings.twilio_auth_token is None:
        raise ServiceUnavailableError("Twilio is not configured.", code="twilio_not_configured")
    # Twilio signs the URL it was given, which is the public one (not what a proxy forwards).
    url = settings.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    if not validator.validate(url, params, request.headers.get("X-Twilio-Signature", "")):
        raise AuthenticationError(
            "The request is not signed by Twilio.", code="invalid_twilio_signature"
        )


def _answer(hub: RealtimeHub, settings: Settings, to_number: str, from_number: str) -> str:
    """TwiML for an inbound call: stream it to a new session, or say why not."""
    response = VoiceResponse()
    # Checked before the call is routed: a refused URL must not leave an agent reserved.
    media_base = stream_url(settings.public_base_url, "", production=settings.env == "production")
    decision = route_inbound(hub, settings.stream_token_ttl, to_number, from_number)
    if decision.action == "busy":
        response.reject(reason="busy")
    elif decision.action == "unknown_number":
        response.reject()
    elif decision.action == "overflow":
        response.say(decision.overflow_message)
        response.hangup()
    else:
        connect = Connect()
        path = MEDIA_PATH.format(session_id=decision.session_id)
        stream = connect.stream(url=media_base + path)
        stream.parameter(name="token", value=decision.stream_token)
        response.append(connect)
    return str(response)


@router.websocket("/media/{session_id}")
async def media_stream(websocket: WebSocket, session_id: str) -> None:
    """Twilio Media Streams: the caller's audio in, translated speech, marks and clears out."""
    settings: Settings = websocket.app.state.settings
    await websocket.accept()
    bridge = TwilioBridge(
        websocket, websocket.app.state.realtime, session_id, settings.telephony_media_idle_seconds
    )
    await bridge.run()
