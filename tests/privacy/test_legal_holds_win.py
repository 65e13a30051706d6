"""Legal holds win over erasure (issue 20, findings 4 and 12): held records stay, named with
their holds, and go when the last hold on them is released."""

from __future__ import annotations

from sqlalchemy import select

from kallglot.accounts.permissions import Role
from kallglot.core.settings import Settings
from kallglot.crypto import EncryptedBlobStore
from kallglot.privacy import requests as dsr
from kallglot.privacy.erasure_ledger import ErasureLedger
from kallglot.privacy.requests import RequestType
from kallglot.privacy.retention import place_legal_hold, release_legal_hold
from kallglot.realtime.models import TranscriptTurn
from kallglot.telephony.calls.models import CallRecord
from tests.conftest import MigratedDatabase
from tests.factories import Identity
from tests.privacy.subjects_seed import (
    ACTOR,
    Seeded,
    everything_stored,
    make_organization,
    seed_caller,
    verified_request,
)


def _seed(identity: Identity, settings: Settings, org_id: str, label: str) -> Seeded:
    with identity.database.sessions.begin() as db:
        return seed_caller(db, settings, EncryptedBlobStore.from_settings(settings), org_id, label)


def _calls_of(database: MigratedDatabase, seeded: Seeded) -> list[str]:
    with database.sessions() as db:
        return list(
            db.scalars(select(CallRecord.id).where(CallRecord.session_id == seeded.session_id))
        )


def test_organization_wide_holds_keep_everything_until_the_last_is_released(
    identity: Identity, database: MigratedDatabase, settings: Settings
) -> None:
    with database.sessions.begin() as db:
        org_id = make_organization(db)  # with a webhook endpoint: the events are held too
    alice = _seed(identity, settings, org_id, "A")
    with database.sessions.begin() as db:
        holds = [
            place_legal_hold(db, org_id, reason, actor_id="usr_counsel").id
            for reason in ("litigation 4 O 12/26", "tax audit 2026")
        ]
    request_id = verified_request(database, org_id, RequestType.ERASURE, phone=alice.phone)
    blobs, ledger = (
        EncryptedBlobStore.from_settings(settings),
        ErasureLedger.from_settings(settings),
    )

    outcome = dsr.run_erasure(database.sessions, request_id, ACTOR, blobs, ledger=ledger)

    named = {hold for records in outcome["held"].values() for r in records for hold in r["holds"]}
    assert named == set(holds)
    assert {r["kind"] for r in outcome["held"]["telephony"]} >= {"call"}
    assert outcome["keys_destroyed"] == 0
    assert sum(outcome["removed"].values()) == 0
    assert alice.markers[3] in everything_stored(database)  # the webhook event, held
    assert _calls_of(database, alice)

    for index, hold_id in enumerate(holds):
        with database.sessions.begin() as db:
            release_legal_hold(db, org_id, hold_id)
            dsr.resume_held_erasures(db, org_id, ACTOR, blobs, ledger=ledger)
            request = db.get_one(dsr.SubjectRequest, request_id)
            status = request.status
        if index == 0:
            assert status == "in_progress" and _calls_of(database, alice)
    assert status == "completed"
    assert _calls_of(database, alice) == []
    assert alice.markers[3] not in everything_stored(database)
    assert ledger.request_ids() == {request_id}  # recorded once, not once per attempt


def test_a_held_call_is_kept_and_named_and_erased_when_its_hold_is_released(
    identity: Identity, database: MigratedDatabase, settings: Settings
) -> None:
    org = identity.organization()
    alice = _seed(identity, settings, org.id, "A")
    compliance = identity.client_as(Role.COMPLIANCE, org)
    placed = compliance.post(
        "/v1/privacy/legal-holds",
        json={"reason": "court order 7", "object_type": "call", "object_ref": alice.session_id},
    )
    assert placed.status_code == 201, placed.text
    hold_id = placed.json()["id"]
    created = compliance.post(
        "/v1/privacy/requests", json={"type": "erasure", "phone": alice.phone}
    )
    request_id = created.json()["id"]
    compliance.post(f"/v1/privacy/requests/{request_id}/attest", json={"note": "on the line"})

    executed = compliance.post(f"/v1/privacy/requests/{request_id}/execute", json={})
    assert executed.status_code == 200, executed.text
    body = executed.json()
    assert body["status"] == "in_progress"
    (call_id,) = _calls_of(database, alice)
    assert body["outcome"]["held"]["telephony"] == [
        {"kind": "call", "id": call_id, "holds": [hold_id]}
    ]
    assert body["outcome"]["held"]["calls"] == [
        {"kind": "call_session", "id": alice.session_id, "holds": [hold_id]}
    ]
    with database.sessions() as db:
        assert db.scalars(select(TranscriptTurn).where(TranscriptTurn.id == alice.turn_id)).all()

    released = compliance.post(f"/v1/privacy/legal-holds/{hold_id}/release")
    assert released.status_code == 200, released.text
    after = compliance.get(f"/v1/privacy/requests/{request_id}").json()
    assert after["status"] == "completed" and after["outcome"]["keys_destroyed"] >= 1
    assert _calls_of(database, alice) == []
    with database.sessions() as db:
        assert not db.scalars(
            select(TranscriptTurn).where(TranscriptTurn.id == alice.turn_id)
        ).all()


def test_a_legal_hold_cannot_name_another_organizations_call(
    identity: Identity, settings: Settings
) -> None:
    org_a, org_b = identity.organization("A"), identity.organization("B")
    alice = _seed(identity, settings, org_a.id, "A")
    (call_id,) = _calls_of(identity.database, alice)
    compliance_b = identity.client_as(Role.COMPLIANCE, org_b)
    for ref in (alice.session_id, call_id, "sess_doesnotexist"):
        refused = compliance_b.post(
            "/v1/privacy/legal-holds",
            json={"reason": "probe", "object_type": "call", "object_ref": ref},
        )
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["param"] == "object_ref"
    compliance_a = identity.client_as(Role.COMPLIANCE, org_a)
    for ref in (alice.session_id, call_id):
        placed = compliance_a.post(
            "/v1/privacy/legal-holds",
            json={"reason": "ours", "object_type": "call", "object_ref": ref},
        )
        assert placed.status_code == 201, placed.text


def test_an_email_with_a_nul_is_refused(identity: Identity) -> None:
    org = identity.organization()
    owner = identity.client_as(Role.OWNER, org)
    nul = "a\x00b@example.com"
    attempts = [
        ("/v1/privacy/requests", {"type": "erasure", "email": nul}),
        ("/v1/invitations", {"email": nul, "role": "agent"}),
        ("/v1/auth/password-reset", {"email": nul}),
        (
            "/v1/privacy/legal-requests",
            {"authority": "Polizei\x00", "legal_basis": "x", "scope": "y"},
        ),
    ]
    for path, body in attempts:
        refused = owner.post(path, json=body)
        assert refused.status_code == 422, (path, refused.text)
