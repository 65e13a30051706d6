"""Admission and the hard limit: no credit and no subscription → refused; a live call is
warned, then ended gracefully when its credit or the hard limit runs out."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from fastapi import FastAPI

from kallglot.billing import metering
from kallglot.billing.metering import BillingPolicy
from kallglot.billing.models import BillingAccount
from kallglot.core.clock import utcnow
from kallglot.core.errors import PaymentRequiredError, PermissionDeniedError
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings
from kallglot.db.engine import transaction
from kallglot.realtime.bus import session_topic
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.limits import LimitAction
from kallglot.realtime.models import CallSession
from kallglot.telephony.numbers.models import PhoneNumber
from tests.billing.conftest import live_session
from tests.conftest import MigratedDatabase
from tests.factories import Identity


async def test_live_call_is_warned_then_ended_when_credit_runs_out(
    identity: Identity, app: FastAPI, database: MigratedDatabase
) -> None:
    org = identity.organization(credit_minutes=10)
    hub: RealtimeHub = app.state.realtime
    call = live_session(database, org.id, 8 * 60)
    runtime, _ = await hub.attach(call)
    async with hub.bus.subscribe(session_topic(call.id)) as events:
        assert await hub.enforce_limits() == 0
        warning = await asyncio.wait_for(anext(events), timeout=10)
        assert await hub.enforce_limits() == 0  # warned once, not on every check
        assert warning["type"] == "session.limit_warning"
        assert warning["code"] == "insufficient_api_credits"
        assert 0 < warning["seconds_left"] <= 120

        with transaction(database.sessions) as db:
            stored = db.get(CallSession, call.id)
            assert stored is not None and stored.started_at is not None
            stored.started_at -= timedelta(minutes=3)  # the call runs past its credit
        assert await hub.enforce_limits() == 1
        ended = await asyncio.wait_for(anext(events), timeout=10)
    assert ended == {
        "type": "session.ended",
        "session_id": call.id,
        "reason": "insufficient_api_credits",
    }
    assert runtime.ended.is_set()
    with transaction(database.sessions) as db:
        stored = db.get(CallSession, call.id)
        assert stored is not None
        assert (stored.status, stored.end_reason) == ("ended", "insufficient_api_credits")
        metering.meter_ended_sessions(db)
        assert metering.credit_seconds(db, org.id) <= 0
        with pytest.raises(PaymentRequiredError) as refused:
            metering.admit(db, org.id)
        assert refused.value.code == "insufficient_api_credits"


def test_hard_limit_applies_to_subscribed_organizations(
    identity: Identity, database: MigratedDatabase, settings: Settings
) -> None:
    org = identity.organization(credit_minutes=0)
    with transaction(database.sessions) as db:
        db.add(BillingAccount(organization_id=org.id, plan="contract", hard_limit_minutes=10))
    short = live_session(database, org.id, 60)
    warned = live_session(database, org.id, 6 * 60)
    over = live_session(database, org.id, 10 * 60 + 1)
    with database.sessions() as db:
        metering.admit(db, org.id)  # a contract needs no credit
        live = [db.get(CallSession, call.id) for call in (short, warned, over)]
        verdicts = BillingPolicy(settings).verdicts(db, [c for c in live if c is not None])
    assert {(v.session_id, v.action, v.code) for v in verdicts} == {
        (warned.id, LimitAction.WARN, "session_limit_reached"),
        (over.id, LimitAction.END, "session_limit_reached"),
    }


def test_lapsed_subscription_without_credit_is_inactive(
    identity: Identity, database: MigratedDatabase
) -> None:
    org = identity.organization(credit_minutes=0)
    with transaction(database.sessions) as db:
        db.add(BillingAccount(organization_id=org.id, subscription_status="past_due"))
    with database.sessions() as db, pytest.raises(PermissionDeniedError) as refused:
        metering.admit(db, org.id)
    assert refused.value.code == "organization_inactive"
    with transaction(database.sessions) as db:
        metering.add_credit(db, org.id, 60, "grant:goodwill")
        metering.admit(db, org.id)  # credit still lets calls through


def test_numbers_are_metered_once_per_day_held(
    identity: Identity, database: MigratedDatabase
) -> None:
    org = identity.organization()
    day = utcnow().date() - timedelta(days=1)
    with transaction(database.sessions) as db:
        for released in (None, utcnow() - timedelta(days=3)):
            db.add(
                PhoneNumber(
                    id=new_id("num"),
                    organization_id=org.id,
                    e164="+4930901820",
                    country="DE",
                    number_type="local",
                    carrier="sip_trunk",
                    created_at=utcnow() - timedelta(days=10),
                    released_at=released,
                )
            )
    with transaction(database.sessions) as db:
        assert metering.meter_numbers(db, day) == 1  # the released number is not billed
        assert metering.meter_numbers(db, day) == 0
