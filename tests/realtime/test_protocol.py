"""Client messages are parsed strictly; bad ones become protocol errors, never crashes."""

from __future__ import annotations

import base64
import json

import pytest

from kallglot.realtime.protocol import (
    AudioEncoding,
    AudioInput,
    Party,
    Ping,
    ProtocolError,
    SessionUpdate,
    decode_audio,
    parse_client_message,
)


def audio_message(**overrides: object) -> str:
    message: dict[str, object] = {
        "type": "audio.input",
        "speaker": "caller",
        "sequence": 0,
        "timestamp_ms": 0,
        "audio": {
            "encoding": "mulaw",
            "sample_rate_hz": 8000,
            "payload": base64.b64encode(b"\xff" * 160).decode(),
        },
    }
    message.update(overrides)
    return json.dumps(message)


def test_audio_input_decodes() -> None:
    parsed = parse_client_message(audio_message())
    assert isinstance(parsed, AudioInput)
    audio = decode_audio(parsed)
    assert audio.speaker is Party.CALLER
    assert audio.encoding is AudioEncoding.MULAW
    assert audio.data == b"\xff" * 160


def test_customer_is_an_alias_of_caller() -> None:
    parsed = parse_client_message(audio_message(speaker="customer"))
    assert isinstance(parsed, AudioInput)
    assert parsed.speaker is Party.CALLER


def test_ping_and_update() -> None:
    assert isinstance(parse_client_message('{"type": "ping"}'), Ping)
    update = parse_client_message('{"type": "session.update", "target_language": "pt"}')
    assert isinstance(update, SessionUpdate)
    assert update.target_language == "pt"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_message"),
        ("[1, 2]", "invalid_message"),
        ('{"type": "dance"}', "unknown_message_type"),
        (audio_message(sequence=-1), "invalid_message"),
        (audio_message(speaker="robot"), "invalid_message"),
        (audio_message(extra=True), "invalid_message"),
        ('{"type": "ping", "x": 1}', "invalid_message"),
    ],
)
def test_malformed_messages_are_protocol_errors(raw: str, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_message(raw)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "audio",
    [
        {"encoding": "mulaw", "sample_rate_hz": 16000, "payload": ""},
        {"encoding": "pcm_s16le", "sample_rate_hz": 8000, "payload": ""},
        {"encoding": "mulaw", "sample_rate_hz": 8000, "payload": "***"},
        {"encoding": "pcm_s16le", "sample_rate_hz": 16000, "payload": "AAAA"},  # 3 bytes
    ],
)
def test_wrong_audio_is_invalid_audio_format(audio: dict[str, object]) -> None:
    parsed = parse_client_message(audio_message(audio=audio))
    assert isinstance(parsed, AudioInput)
    with pytest.raises(ProtocolError) as caught:
        decode_audio(parsed)
    assert caught.value.code == "invalid_audio_format"
