"""``POST /v1/sessions/{session_id}/webrtc``: a browser joins its session with an SDP offer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field

from kallglot.core.schemas import RequestModel, ResponseModel
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.protocol import Party
from kallglot.telephony.webrtc.peer import WebRtcLegs

router = APIRouter(tags=["sessions"])

MAX_SDP_CHARS = 64_000


class WebRtcOffer(RequestModel):
    type: Literal["offer"]
    sdp: str = Field(min_length=1, max_length=MAX_SDP_CHARS, description="the browser's offer")
    speaker: Party = Field(description="whose speech the offer's audio track carries")


class WebRtcAnswer(ResponseModel):
    type: Literal["answer"] = "answer"
    sdp: str


def _envelope(description: str) -> dict[str, Any]:
    return {"description": description + " (the error envelope)"}


@router.post(
    "/v1/sessions/{session_id}/webrtc",
    summary="Join a session's audio over WebRTC (SDP offer → answer)",
    response_model=WebRtcAnswer,
    responses={
        401: _envelope("the stream token is missing, wrong or expired, or the session ended"),
        409: _envelope("that speaker is already connected over WebRTC on this node"),
        422: _envelope("the offer is malformed or has no audio this server can answer"),
        503: _envelope("the node is full"),
    },
)
async def webrtc_offer(
    request: Request,
    session_id: str,
    offer: WebRtcOffer,
    token: Annotated[str, Query(max_length=200, description="the session's stream token")] = "",
) -> WebRtcAnswer:
    """The speaker's microphone in, the translated speech meant for them out, as Opus
    48 kHz. Authenticated by the stream token, exactly as the session WebSocket."""
    legs: WebRtcLegs = request.app.state.webrtc
    hub: RealtimeHub = request.app.state.realtime
    sdp = await legs.answer(hub, session_id, token, offer.speaker, offer.sdp)
    return WebRtcAnswer(sdp=sdp)
