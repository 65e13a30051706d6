"""A number's languages are a hint: a Spanish caller on a Portuguese number is heard, and
translated, as Spanish, and both parties are told the call's languages changed."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from kallglot.accounts.permissions import Role
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.models import CallSession
from kallglot.telephony.inbound import route_inbound
from tests.conftest import MigratedDatabase, sqlite_only
from tests.factories import Identity
from tests.realtime.conftest import Collected, LiveServer, collect, mulaw_clip, send_mulaw
from tests.telephony_numbers.helpers import make_agent, make_number, make_queue

pytestmark = [sqlite_only, pytest.mark.timeout(300)]


async def test_a_caller_confidently_speaking_another_language_switches_the_session(
    live_server: LiveServer, identity: Identity, database: MigratedDatabase
) -> None:
    org = identity.organization()
    ana = identity.user(org, Role.AGENT, email="ana-hint@example.com")
    with database.sessions.begin() as db:
        agent = make_agent(db, ana.id, org, "Ana", ["en"], "available", 5)
        make_number(db, org, make_queue(db, org, [agent]), e164="+351210000001").languages = ["pt"]
    hub: RealtimeHub = live_server.app.state.realtime
    decision = await asyncio.to_thread(
        route_inbound,
        hub,
        live_server.app.state.settings.stream_token_ttl,
        "+351210000001",
        "+34600000003",
    )
    assert decision.action == "stream"
    with database.sessions() as db:
        session = db.get_one(CallSession, decision.session_id)
        assert (session.source_language, session.source_language_is_hint) == ("pt", True)

    spanish, _ = mulaw_clip("es", 2)
    events = Collected()
    url = (
        f"{live_server.ws_url}/v1/sessions/{decision.session_id}/connect"
        f"?token={decision.stream_token}&party=caller"
    )
    async with websockets.connect(url) as caller:
        reader = asyncio.create_task(collect(caller, events))
        await send_mulaw(caller, "caller", spanish, speed=2.0)
        for _ in range(1200):
            if events.of("transcript.final", speaker="customer"):
                break
            await asyncio.sleep(0.1)
        await caller.send(json.dumps({"type": "session.end"}))
        await asyncio.wait_for(reader, 60)

    changed = events.of("session.languages")
    assert changed and changed[0]["source_language"] == "es"
    assert changed[0]["target_language"] == "en"
    finals = events.of("transcript.final", speaker="customer")
    assert finals and finals[0]["language"] == "es"
    with database.sessions() as db:
        assert db.get_one(CallSession, decision.session_id).source_language == "es"
