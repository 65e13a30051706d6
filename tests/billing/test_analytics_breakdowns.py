"""Analytics: calls by direction and by phone number, for one organization, without limited
subjects."""

from __future__ import annotations

from datetime import timedelta

from kallglot.accounts.permissions import Role
from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.db.engine import transaction
from kallglot.privacy import requests as dsr
from kallglot.privacy.requests import RequestType
from kallglot.telephony.calls.service import end, new_record
from kallglot.telephony.numbers.models import PhoneNumber
from tests.billing.conftest import SignIn
from tests.conftest import MigratedDatabase
from tests.factories import Identity
from tests.privacy.subjects_seed import ACTOR, verified_request


def add_number(database: MigratedDatabase, organization_id: str, e164: str) -> str:
    with transaction(database.sessions) as db:
        number = PhoneNumber(
            id=new_id("num"),
            organization_id=organization_id,
            e164=e164,
            country="DE",
            number_type="local",
            carrier="sip_trunk",
            carrier_ref=f"sip:{e164}",
            status="active",
            languages=[],
            monthly_price_cents=0,
            currency="EUR",
        )
        db.add(number)
        return number.id


def call(
    database: MigratedDatabase,
    organization_id: str,
    number: tuple[str, str],
    external: str,
    *,
    direction: str = "inbound",
    talked_seconds: int | None = None,
) -> None:
    """A finished call on ``number``: answered and talked ``talked_seconds``, else abandoned."""
    number_id, e164 = number
    now = utcnow()
    ours_first = direction == "outbound"
    with transaction(database.sessions) as db:
        record = new_record(
            db,
            organization_id,
            direction=direction,
            from_number=e164 if ours_first else external,
            to_number=external if ours_first else e164,
            now=now - timedelta(minutes=10),
            number_id=number_id,
        )
        if talked_seconds is not None:  # answered (as routing.answer records it)
            record.outcome = "in_progress"
            record.answered_at = now - timedelta(seconds=talked_seconds)
        end(db, record, now)


def test_calls_by_direction_and_by_number_leave_out_other_organizations_and_limited_callers(
    identity: Identity, signed_in: SignIn, database: MigratedDatabase
) -> None:
    org, other = identity.organization(), identity.organization("Other Co")
    sales = (add_number(database, org.id, "+493011110001"), "+493011110001")
    support = (add_number(database, org.id, "+493011110002"), "+493011110002")
    idle = add_number(database, org.id, "+493011110003")
    foreign = (add_number(database, other.id, "+493099990001"), "+493099990001")
    call(database, org.id, sales, "+4915110000001", talked_seconds=61)  # 2 minutes
    call(database, org.id, sales, "+4915110000002")  # abandoned
    call(database, org.id, support, "+4915110000003", direction="outbound", talked_seconds=30)
    call(database, org.id, support, "+4915110000004", talked_seconds=600)  # will object
    call(database, other.id, foreign, "+4915110000005", talked_seconds=60)
    client = signed_in(Role.SUPERVISOR, org)

    directions = client.get("/v1/analytics/directions").json()["data"]
    assert directions == [
        {"direction": "inbound", "calls": 3, "answered": 2, "missed": 1, "minutes": 12},
        {"direction": "outbound", "calls": 1, "answered": 1, "missed": 0, "minutes": 1},
    ]
    numbers = {row["e164"]: row for row in client.get("/v1/analytics/numbers").json()["data"]}
    assert set(numbers) == {"+493011110001", "+493011110002", "+493011110003"}
    assert numbers["+493011110001"] | {"number_id": None} == {
        "number_id": None,
        "e164": "+493011110001",
        "inbound": 2,
        "outbound": 0,
        "calls": 2,
        "answered": 1,
        "missed": 1,
        "minutes": 2,
    }
    assert (numbers["+493011110002"]["inbound"], numbers["+493011110002"]["outbound"]) == (1, 1)
    assert numbers["+493011110003"]["number_id"] == idle
    assert numbers["+493011110003"]["calls"] == 0

    request_id = verified_request(database, org.id, RequestType.OBJECTION, phone="+4915110000004")
    with transaction(database.sessions) as db:
        dsr.object_to(db, db.get_one(dsr.SubjectRequest, request_id), ACTOR)

    directions = client.get("/v1/analytics/directions").json()["data"]
    assert directions[0] == {
        "direction": "inbound",
        "calls": 2,
        "answered": 1,
        "missed": 1,
        "minutes": 2,
    }
    numbers = {row["e164"]: row for row in client.get("/v1/analytics/numbers").json()["data"]}
    assert (numbers["+493011110002"]["inbound"], numbers["+493011110002"]["minutes"]) == (0, 1)
    assert signed_in(Role.AGENT, org).get("/v1/analytics/numbers").status_code == 403
