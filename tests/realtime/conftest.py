"""A real server on loopback for WebSocket tests, and helpers to stream FLEURS clips."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI

from kallglot.accounts.models import Organization
from kallglot.billing.metering import add_credit
from kallglot.core.ids import new_id
from kallglot.realtime import service
from kallglot.realtime.schemas import CreateSession
from kallglot.speech import g711
from kallglot.speech.audio import decode_file, resample
from tests.conftest import FLEURS_DIR, MigratedDatabase
from tests.support.live import LiveServer, serving

__all__ = ["LiveServer", "serving"]  # re-exported: modules written against this conftest


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    with serving(app) as server:
        yield server


@pytest.fixture
def organization_id(database: MigratedDatabase) -> str:
    with database.sessions.begin() as db:
        organization = Organization(id=new_id("org"), name="Test", slug=new_id("slug"))
        db.add(organization)
        db.flush()
        # Prepaid credit, or the billing limit would end these calls after its first check.
        add_credit(db, organization.id, 60 * 60, "grant:test")
    return organization.id


def new_session(database: MigratedDatabase, organization_id: str, **fields: Any) -> tuple[str, str]:
    """A session created through the service; returns (session id, stream token)."""
    from datetime import timedelta

    with database.sessions.begin() as db:
        call, grant = service.create_session(
            db, organization_id, CreateSession.model_validate(fields), timedelta(minutes=5)
        )
    return call.id, grant.token


def mulaw_clip(language: str, index: int, tail_silence_ms: int = 1500) -> tuple[bytes, str]:
    path = FLEURS_DIR / f"fleurs-{language}-{index:03d}.ogg"
    narrow = resample(decode_file(path), 16000, 8000)
    return (
        g711.mulaw_encode(narrow) + b"\xff" * (8 * tail_silence_ms),
        path.with_suffix(".txt").read_text().strip(),
    )


def mulaw_clips(language: str, indexes: tuple[int, ...]) -> tuple[bytes, str]:
    """Several clips one after the other, as one party's turn of speech."""
    clips = [mulaw_clip(language, index) for index in indexes]
    return b"".join(audio for audio, _ in clips), " ".join(text for _, text in clips)


async def send_mulaw(ws: Any, speaker: str, mulaw: bytes, speed: float = 1.0) -> None:
    """Stream mu-law in 20 ms messages, paced at ``speed`` times real time."""
    start = time.monotonic()
    for sequence, offset in enumerate(range(0, len(mulaw), 160)):
        await ws.send(
            json.dumps(
                {
                    "type": "audio.input",
                    "speaker": speaker,
                    "sequence": sequence,
                    "timestamp_ms": sequence * 20,
                    "audio": {
                        "encoding": "mulaw",
                        "sample_rate_hz": 8000,
                        "payload": base64.b64encode(mulaw[offset : offset + 160]).decode(),
                    },
                }
            )
        )
        delay = start + (sequence + 1) * 0.02 / speed - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass
class Collected:
    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["type"] == kind and all(e.get(k) == v for k, v in match.items())
        ]


async def collect(ws: Any, into: Collected) -> None:
    async for raw in ws:
        message = json.loads(raw)
        into.events.append(message)
        if message["type"] == "session.ended":
            return


def reference_path(language: str, index: int) -> Path:
    return FLEURS_DIR / f"fleurs-{language}-{index:03d}.txt"


@pytest.fixture
def other_organization_id(database: MigratedDatabase) -> str:
    with database.sessions.begin() as db:
        organization = Organization(id=new_id("org"), name="Other", slug=new_id("slug"))
        db.add(organization)
    return organization.id


def heard(events: Collected, listener: str) -> np.ndarray:
    chunks = [
        np.frombuffer(base64.b64decode(e["audio"]["payload"]), dtype="<i2")
        for e in events.of("audio.output", listener=listener)
    ]
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


async def wait_for_audio(events: Collected, listener: str, timeout_s: float = 180) -> None:
    """Until everything said so far has been recognised, translated and played to ``listener``.

    Settled means: every final has its latency event and nothing new (no final, no audio
    chunk) arrived for a second and a half. Time-outs are generous: a busy machine is slow,
    not wrong.
    """
    speaker = "customer" if listener == "agent" else "agent"
    last_seen: tuple[int, int, int] | None = None
    quiet_polls = 0
    for _ in range(int(timeout_s / 0.5)):
        seen = (
            len(events.of("transcript.final", speaker=speaker)),
            len(events.of("latency", speaker=speaker)),
            len(events.of("audio.output", listener=listener)),
        )
        quiet_polls = quiet_polls + 1 if seen == last_seen else 0
        last_seen = seen
        if seen[0] and seen[0] == seen[1] and quiet_polls >= 3:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"the {listener} did not get the translation of everything said")
