"""Telnyx as the tests play it: recorded protocol frames, and webhooks signed as Telnyx does."""

from __future__ import annotations

import base64
import copy
import json
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

FIXTURES = Path(__file__).parent / "fixtures" / "telnyx"
TELNYX_API_KEY = "KEY_test"
# A key pair of our own stands in for Telnyx's: the server only ever sees the public half.
SIGNING_KEY = Ed25519PrivateKey.generate()
PUBLIC_KEY = base64.b64encode(
    SIGNING_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
).decode()
WEBHOOK = "/v1/telephony/telnyx/webhook"

_FRAMES: dict[str, dict[str, Any]] = json.loads((FIXTURES / "stream_frames.json").read_text())


def call_initiated(to: str, from_: str = "+4915100000001") -> dict[str, Any]:
    event: dict[str, Any] = json.loads((FIXTURES / "call_initiated.json").read_text())
    event["data"]["payload"].update({"to": to, "from": from_})
    return event


def signed_headers(body: str, timestamp: int | None = None) -> dict[str, str]:
    sent_at = str(int(time.time()) if timestamp is None else timestamp)
    signature = SIGNING_KEY.sign(f"{sent_at}|{body}".encode())
    return {
        "Content-Type": "application/json",
        "telnyx-timestamp": sent_at,
        "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
    }


def frame(event: str) -> dict[str, Any]:
    """A recorded frame of that event, to adjust and send."""
    return copy.deepcopy(_FRAMES[event])


def start_frame(client_state: str, encoding: str = "PCMU") -> str:
    start = frame("start")
    start["start"]["client_state"] = client_state
    start["start"]["media_format"]["encoding"] = encoding
    return json.dumps(start)


def token_state(token: str) -> str:
    return base64.b64encode(token.encode()).decode()


def media_frame(chunk: int, payload: bytes) -> str:
    media = frame("media")
    media["sequence_number"] = str(chunk + 2)
    media["media"].update(
        chunk=str(chunk), timestamp=str(chunk * 20), payload=base64.b64encode(payload).decode()
    )
    return json.dumps(media)
