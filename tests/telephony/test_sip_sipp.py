"""SIPp (an independent SIP load generator) places 20 short calls at 5 calls per second
into SIP sessions: every call is answered and torn down, and none is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from kallglot.core.settings import Settings
from kallglot.realtime.models import CallSession
from kallglot.telephony.sip import SipGateway
from tests.conftest import MigratedDatabase
from tests.realtime.conftest import LiveServer, new_session
from tests.support.tools import required
from tests.support.waiting import wait_until
from tests.telephony.sipp_runner import run_sipp

CALLS = 20

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(autouse=True)
def sipp_installed() -> None:
    required("sipp", "sip-tester")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "sip_listen": "udp:127.0.0.1:0",
            "sip_rtp_port_min": 45000,
            "sip_rtp_port_max": 49999,
            # signalling under load, not translation capacity, is what is measured here
            "max_concurrent_calls": CALLS,
        }
    )


def sip_sessions(database: MigratedDatabase, organization_id: str, count: int) -> list[str]:
    return [
        new_session(database, organization_id, mode="transcription", routing={"type": "sip"})[0]
        for _ in range(count)
    ]


def test_twenty_calls_at_five_per_second_are_answered_and_torn_down(
    live_server: LiveServer,
    database: MigratedDatabase,
    organization_id: str,
    tmp_path: Path,
) -> None:
    gateway: SipGateway = live_server.app.state.sip_gateway
    session_ids = sip_sessions(database, organization_id, CALLS)

    result = run_sipp(f"127.0.0.1:{gateway.port}", session_ids, tmp_path, rate=5)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    wait_until(
        lambda: (
            not gateway.dialogs and not gateway.pending and ended(database, session_ids) == CALLS
        ),
        "a call was left behind",
    )
    assert gateway.open_rtp_streams == 0
    assert gateway.calls_answered == CALLS
    assert not live_server.app.state.realtime.runtimes


def ended(database: MigratedDatabase, session_ids: list[str]) -> int:
    """How many of the calls reached their session and ended it."""
    with database.sessions() as db:
        statuses = db.scalars(
            select(CallSession.status).where(CallSession.id.in_(session_ids))
        ).all()
    return statuses.count("ended")
