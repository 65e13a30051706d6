"""Analytics for one organization only: minutes per day, language pairs, latency, agents."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import time_machine

from kallglot.accounts.permissions import Role
from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.db.engine import transaction
from kallglot.realtime.models import UtteranceTiming
from kallglot.telephony.routing.models import Agent
from kallglot.telephony.routing.service import log_activity
from tests.billing.conftest import SignIn, ended_session
from tests.conftest import MigratedDatabase
from tests.factories import Identity


def _timings(
    database: MigratedDatabase, organization_id: str, session_id: str, ms: list[int]
) -> None:
    with transaction(database.sessions) as db:
        for value in ms:
            db.add(
                UtteranceTiming(
                    id=new_id("tim"),
                    session_id=session_id,
                    organization_id=organization_id,
                    speaker="caller",
                    utterance_id=new_id("utt"),
                    speech_ended_at=utcnow() - timedelta(minutes=1),
                    asr_final_ms=value // 2,
                    mt_done_ms=value - 100,
                    first_audio_ms=value,
                )
            )


def _log_at(
    database: MigratedDatabase, agent: Agent, at: datetime, event: str, **fields: str
) -> None:
    with time_machine.travel(at, tick=False), transaction(database.sessions) as db:
        log_activity(db, agent, event, **fields)


def test_organization_sees_only_its_own_analytics(
    identity: Identity, signed_in: SignIn, database: MigratedDatabase
) -> None:
    org, other = identity.organization(), identity.organization("Other Co")
    first = ended_session(database, org.id, 119.5, pair=("es", "en"))
    ended_session(database, org.id, 59.5, pair=("es", "en"))
    ended_session(database, org.id, 29.5, pair=("pt", "en"), mode="transcription")
    foreign = ended_session(database, other.id, 3000, pair=("fr", "en"))
    _timings(database, org.id, first, [1000, 1200, 1400, 1600, 3000])
    _timings(database, other.id, foreign, [9000])
    member = identity.user(org, Role.AGENT, name="Ana")
    agent = Agent(id=new_id("agt"), organization_id=org.id, user_id=member.id, display_name="Ana")
    online_at = utcnow() - timedelta(hours=1)
    # Online for 90 s (a call answered and one missed meanwhile), then offline.
    with time_machine.travel(online_at, tick=False), transaction(database.sessions) as db:
        db.add(agent)
        db.flush()
        log_activity(db, agent, "state_changed", from_state="offline", to_state="available")
    answered_at = online_at + timedelta(seconds=30)
    _log_at(database, agent, answered_at, "call_answered", call_id=first)
    _log_at(database, agent, answered_at, "call_missed", call_id="call_x")
    offline_at = online_at + timedelta(seconds=90)
    _log_at(
        database, agent, offline_at, "state_changed", from_state="available", to_state="offline"
    )
    client = signed_in(Role.SUPERVISOR, org)

    minutes = client.get("/v1/analytics/minutes").json()["data"]
    assert [(row["sessions"], row["minutes"]) for row in minutes] == [(3, 4)]
    pairs = client.get("/v1/analytics/language-pairs").json()["data"]
    assert pairs == [{"language_pair": "es-en", "calls": 2}, {"language_pair": "pt-en", "calls": 1}]
    latency = client.get("/v1/analytics/latency").json()
    assert latency["utterances"] == 5 and latency["average_ms"] == 1640.0
    assert 1600 < latency["p95_ms"] <= 3000
    (activity,) = client.get("/v1/analytics/agents").json()["data"]
    assert (activity["display_name"], activity["calls_answered"], activity["calls_missed"]) == (
        "Ana",
        1,
        1,
    )
    assert activity["online_seconds"] == 90
    exported = client.get("/v1/analytics/minutes.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert next(iter(csv.DictReader(io.StringIO(exported.text))))["minutes"] == "4"
    assert signed_in(Role.AGENT, org).get("/v1/analytics/minutes").status_code == 403
