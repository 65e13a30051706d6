"""Data-subject requests: access ZIP, erasure across every store, restriction, objection,
rectification, deadlines and verification."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from kallglot import mail
from kallglot.audit.models import AuditEvent
from kallglot.core.errors import ConflictError, NotFoundError, ValidationFailedError
from kallglot.core.settings import Settings
from kallglot.crypto import EncryptedBlobStore, Keyring
from kallglot.mail.models import OutboxMessage
from kallglot.privacy import requests as dsr
from kallglot.privacy.erasure_ledger import ErasureLedger
from kallglot.privacy.purgers import load_purgers
from kallglot.privacy.requests import Purpose, RequestType
from kallglot.privacy.retention import run_purge
from kallglot.realtime.models import TranscriptTurn
from kallglot.realtime.transcripts import open_turn_text
from kallglot.telephony.calls.models import CallRecord
from tests.conftest import MigratedDatabase
from tests.privacy.subjects_seed import (
    ACTOR,
    everything_stored,
    make_organization,
    raw_bytes,
    seed_two,
    verified_request,
)


def test_access_zip_holds_every_marker_of_the_subject_and_none_of_another(
    database: MigratedDatabase, settings: Settings, keyring: Keyring, blob_store: EncryptedBlobStore
) -> None:
    alice, bob = seed_two(database, settings, blob_store)
    request_id = verified_request(
        database, alice.organization_id, RequestType.ACCESS, phone=alice.phone
    )
    with database.sessions.begin() as db:
        dsr.start_export(db, db.get_one(dsr.SubjectRequest, request_id), ACTOR)
    dsr.build_export(database.sessions, request_id, blob_store, ACTOR)
    with database.sessions.begin() as db:
        token = dsr.issue_download_link(db, db.get_one(dsr.SubjectRequest, request_id), ACTOR)

    with database.sessions.begin() as db:
        archive = dsr.download_export(db, token, blob_store)
        request = db.get_one(dsr.SubjectRequest, request_id)
        assert (request.status, request.progress) == ("completed", 100)
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        names = bundle.namelist()
        content = b"".join(bundle.read(name) for name in names).decode("utf-8", "replace")
        calls = json.loads(bundle.read("calls.json"))
    assert "README.txt" in names and "calls/transcript_turn.csv" in names
    assert {"transcript_turn", "recording", "webhook_event"} <= {row["kind"] for row in calls}
    for value in alice.markers + alice.kept_markers:
        assert value in content, value
    for value in bob.markers + bob.kept_markers:
        assert value not in content, value
    with database.sessions.begin() as db, pytest.raises(NotFoundError):
        dsr.download_export(db, token, blob_store)  # once only


def test_erasure_leaves_no_marker_anywhere_and_keeps_other_subjects_readable(
    database: MigratedDatabase,
    settings: Settings,
    keyring: Keyring,
    blob_store: EncryptedBlobStore,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alice, bob = seed_two(database, settings, blob_store)
    assert alice.markers[3] in everything_stored(database)  # the webhook outbox holds it plain
    caller = verified_request(
        database, alice.organization_id, RequestType.ERASURE, phone=alice.phone
    )
    agent = verified_request(
        database, alice.organization_id, RequestType.ERASURE, user_id=alice.agent_user_id
    )

    ledger = ErasureLedger.from_settings(settings)
    with caplog.at_level(logging.DEBUG):
        outcome = dsr.run_erasure(database.sessions, caller, ACTOR, blob_store, ledger=ledger)
        dsr.run_erasure(database.sessions, agent, ACTOR, blob_store, ledger=ledger)

    assert outcome["keys_destroyed"] >= 1
    assert ledger.request_ids() == {caller, agent}  # recorded outside the database
    assert outcome["kept"]["telephony"]["records"] == 1  # the KYC bundle, said so
    assert "telecom regulation" in outcome["kept"]["telephony"]["reason"]
    stored = everything_stored(database)
    raw = raw_bytes(database, tmp_path / "blobs")
    for value in alice.markers + alice.agent_markers:
        assert value not in stored, value
        assert value.encode() not in raw, value
        assert value not in caplog.text, value
        assert value not in ledger.path.read_text(), value
    for value in bob.agent_markers:
        assert value in stored
    with database.sessions.begin() as db:
        turn = db.scalars(
            select(TranscriptTurn).where(TranscriptTurn.session_id == bob.session_id)
        ).one()
        assert open_turn_text(db, turn)[0] == bob.markers[0]
        trail = db.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.target_id == caller)
            .order_by(AuditEvent.occurred_at, AuditEvent.sequence)
        ).all()
    assert trail == [
        "privacy_request.received",
        "privacy_request.verified",
        "privacy_request.completed",
    ]


def test_restriction_freezes_the_subjects_data_and_stops_processing(
    database: MigratedDatabase, settings: Settings, keyring: Keyring, blob_store: EncryptedBlobStore
) -> None:
    alice, _ = seed_two(database, settings, blob_store)
    request_id = verified_request(
        database, alice.organization_id, RequestType.RESTRICTION, phone=alice.phone
    )
    with database.sessions.begin() as db:
        outcome = dsr.restrict(db, db.get_one(dsr.SubjectRequest, request_id), ACTOR)
        refs = dsr.subject_of(db, db.get_one(dsr.SubjectRequest, request_id)).key_refs
        assert outcome["frozen_calls"] == 2  # the call record and its session
        for purpose in Purpose:
            assert not dsr.processing_allowed(db, alice.organization_id, refs, purpose)
    load_purgers()
    run_purge(database.sessions, now=datetime.now(UTC) + timedelta(days=45))
    with database.sessions.begin() as db:
        left = set(db.scalars(select(TranscriptTurn.session_id)))
        calls = set(db.scalars(select(CallRecord.session_id)))
    assert left == calls == {alice.session_id}  # bob's expired, alice's frozen


def test_objection_stops_legitimate_interest_processing_only(
    database: MigratedDatabase, settings: Settings, keyring: Keyring, blob_store: EncryptedBlobStore
) -> None:
    alice, bob = seed_two(database, settings, blob_store)
    request_id = verified_request(
        database, alice.organization_id, RequestType.OBJECTION, phone=alice.phone
    )
    with database.sessions.begin() as db:
        request = db.get_one(dsr.SubjectRequest, request_id)
        with pytest.raises(ValidationFailedError):
            dsr.object_to(db, request, ACTOR, [Purpose.SERVICE])
    with database.sessions.begin() as db:
        request = db.get_one(dsr.SubjectRequest, request_id)
        dsr.object_to(db, request, ACTOR)
        refs = dsr.subject_of(db, request).key_refs
        bob_refs = (
            db.scalars(
                select(CallRecord.from_hash).where(CallRecord.session_id == bob.session_id)
            ).one(),
        )
        assert not dsr.processing_allowed(db, alice.organization_id, refs, Purpose.ANALYTICS)
        assert not dsr.processing_allowed(db, alice.organization_id, refs, Purpose.QUALITY_SAMPLING)
        assert dsr.processing_allowed(db, alice.organization_id, refs, Purpose.SERVICE)
        assert dsr.processing_allowed(db, alice.organization_id, bob_refs, Purpose.ANALYTICS)


def test_rectification_corrects_transcript_text_with_an_audit_trail(
    database: MigratedDatabase, settings: Settings, keyring: Keyring, blob_store: EncryptedBlobStore
) -> None:
    alice, _ = seed_two(database, settings, blob_store)
    request_id = verified_request(
        database, alice.organization_id, RequestType.RECTIFICATION, phone=alice.phone
    )
    with database.sessions.begin() as db:
        request = db.get_one(dsr.SubjectRequest, request_id)
        with pytest.raises(ValidationFailedError):
            dsr.rectify(db, request, ACTOR, account={"name": "Nope"})  # not a user subject
    with database.sessions.begin() as db:
        request = db.get_one(dsr.SubjectRequest, request_id)
        dsr.rectify(db, request, ACTOR, transcript_turns={alice.turn_id: "Guten Tag, Meyer hier"})
    with database.sessions.begin() as db:
        turn = db.get_one(TranscriptTurn, alice.turn_id)
        assert open_turn_text(db, turn) == ("Guten Tag, Meyer hier", alice.markers[1])
        event = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "privacy_request.completed")
        ).one()
    assert "Meyer" not in json.dumps(event.changes)


def test_deadline_is_one_month_and_extends_once_by_at_most_two(
    database: MigratedDatabase, settings: Settings, keyring: Keyring
) -> None:
    with (
        time_machine.travel(datetime(2026, 1, 31, 9, 0, tzinfo=UTC), tick=False),
        database.sessions.begin() as db,
    ):
        org_id = make_organization(db)
        request = dsr.open_request(db, org_id, RequestType.ACCESS, ACTOR, email="Ann@Example.com")
        assert request.due_at == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
        with pytest.raises(ValidationFailedError):
            dsr.extend(db, settings, request, ACTOR, 3, "complex")
        dsr.extend(db, settings, request, ACTOR, 2, "many stores to search")
        assert request.due_at == datetime(2026, 4, 30, 9, 0, tzinfo=UTC)
        assert request.status == "extended"
        with pytest.raises(ValidationFailedError):
            dsr.extend(db, settings, request, ACTOR, 1, "again")
        notice = mail.read(db, db.scalars(select(OutboxMessage)).one())
    assert notice.to == "ann@example.com" and "2026-04-30" in (notice.body or "")


def test_an_external_subject_is_verified_by_a_mailed_code(
    database: MigratedDatabase, settings: Settings, keyring: Keyring, blob_store: EncryptedBlobStore
) -> None:
    with database.sessions.begin() as db:
        org_id = make_organization(db)
        request = dsr.open_request(db, org_id, RequestType.ERASURE, ACTOR, email="ann@example.com")
        with pytest.raises(ConflictError):
            dsr.erase(db, request, ACTOR, blob_store, ledger=ErasureLedger.from_settings(settings))
        dsr.send_code(db, settings, request, ACTOR)
        sent = mail.read(db, db.scalars(select(OutboxMessage)).one())
        code = (sent.body or "").split()[3].rstrip(".")
        with pytest.raises(ValidationFailedError):
            dsr.check_code(db, request, ACTOR, "000000" if code != "000000" else "111111")
        dsr.check_code(db, request, ACTOR, code)
        assert request.verification_method == "email_code"
        assert request.status == "received"
