"""The overflow message is spoken in the caller's language (here the number's, Portuguese)
with the voice the speech registry picks for it, played by Twilio from our URL, and the
prompt is synthesised once for every caller who hears it."""

from __future__ import annotations

import io
import wave
import xml.etree.ElementTree as ET

import numpy as np
from fastapi.testclient import TestClient

from kallglot.core.settings import Settings
from kallglot.speech.asr import whisper
from kallglot.speech.metrics import word_error_rate
from kallglot.telephony.routing.service import DEFAULT_OVERFLOW_MESSAGES
from tests.conftest import MigratedDatabase
from tests.factories import Identity
from tests.telephony.twilio_helpers import call_params, post_signed
from tests.telephony_numbers.helpers import make_agent, make_number, make_queue, member_id


def test_a_full_portuguese_number_plays_the_overflow_message_in_portuguese(
    client: TestClient, settings: Settings, identity: Identity, database: MigratedDatabase
) -> None:
    org = identity.organization()
    with database.sessions.begin() as db:
        away = make_agent(db, member_id(identity, org, "Rui"), org, "Rui", ["pt"], "away", 5)
        make_number(db, org, make_queue(db, org, [away]), e164="+351210000002").languages = ["pt"]

    twiml = post_signed(client, settings, call_params("+351210000002"))
    again = post_signed(client, settings, call_params("+351210000002"))

    play = twiml.find("./Play")
    assert play is not None and play.text, ET.tostring(twiml)
    assert twiml.find("./Say") is None and twiml.find("./Hangup") is not None
    assert again.findtext("./Play") == play.text  # the same prompt, synthesised once
    path = play.text.removeprefix(settings.public_base_url.rstrip("/"))
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(response.content)) as audio:
        samples = np.frombuffer(audio.readframes(audio.getnframes()), dtype="<i2")
        assert audio.getframerate() == 16000
    heard = whisper().transcribe(samples, "pt").text
    assert word_error_rate([DEFAULT_OVERFLOW_MESSAGES["pt"]], [heard]) <= 0.3, heard

    missing = client.get("/v1/telephony/twilio/prompts/" + "0" * 32 + ".wav")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "prompt_not_found"
