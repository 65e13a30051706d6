"""Twilio: the voice webhook answers with ``<Connect><Stream>``; the stream joins the session."""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Path, Request, Response, WebSocket
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, VoiceResponse

from kallglot.core.errors import (
    AuthenticationError,
    NotFoundError,
    ServiceUnavailableError,
    ValidationFailedError,
)
from kallglot.core.settings import Settings
from kallglot.realtime.hub import RealtimeHub
from kallglot.telephony.inbound import route_inbound, stream_url
from kallglot.telephony.prompts import PROMPT_ID, PROMPT_PATH, Prompts
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
    prompts: Prompts = request.app.state.prompts
    twiml = await asyncio.to_thread(_answer, hub, settings, prompts, params["To"], params["From"])
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


def _answer(
    hub: RealtimeHub, settings: Settings, prompts: Prompts, to_number: str, from_number: str
) -> str:
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
        message, language = decision.overflow_message or "", decision.overflow_language or "en"
        prompt_id = prompts.prepare(language, message)
        if prompt_id is not None:  # our voice for the language, played by Twilio
            path = PROMPT_PATH.format(prompt_id=prompt_id)
            response.play(settings.public_base_url.rstrip("/") + path)
        else:
            response.say(message, language=language)
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


@router.get(
    "/prompts/{prompt_id}.wav",
    summary="A spoken prompt (the overflow message) that a voice webhook's TwiML plays",
    response_class=Response,
    responses={200: {"content": {"audio/wav": {}}}},
)
def prompt_audio(request: Request, prompt_id: Annotated[str, Path(pattern=PROMPT_ID)]) -> Response:
    prompts: Prompts = request.app.state.prompts
    audio = prompts.get(prompt_id)
    if audio is None:
        raise NotFoundError("No such prompt on this node.", code="prompt_not_found")
    return Response(audio, media_type="audio/wav")
