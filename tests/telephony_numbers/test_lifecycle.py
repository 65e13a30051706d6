"""Bundle states and expiry, document limits, retention of call records, activity and KYC,
outbound caller ID, the CLI, and no phone numbers in logs."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from kallglot.cli.main import app as cli
from kallglot.core.clock import utcnow
from kallglot.core.errors import ConflictError, PayloadTooLargeError, ValidationFailedError
from kallglot.core.settings import Settings
from kallglot.crypto import EncryptedBlobStore
from kallglot.privacy.purgers import load_purgers
from kallglot.privacy.retention import run_purge
from kallglot.telephony.calls import service as calls
from kallglot.telephony.calls.models import CallRecord
from kallglot.telephony.kyc import retention as kyc_retention
from kallglot.telephony.kyc import service as kyc
from kallglot.telephony.kyc.documents import check_document
from kallglot.telephony.kyc.models import KycBundle, KycDocument
from kallglot.telephony.numbers.models import PhoneNumber
from kallglot.telephony.routing.models import Agent, AgentActivity
from tests.conftest import MigratedDatabase
from tests.factories import Identity
from tests.telephony_numbers.helpers import make_agent, make_number, make_queue, member_id

PDF = b"%PDF-1.4\n%%EOF\n"


def test_document_checks_by_content_and_size() -> None:
    assert check_document(PDF, 1000) == "application/pdf"
    assert check_document(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20, 1000) == "image/jpeg"
    with pytest.raises(PayloadTooLargeError):
        check_document(PDF + b" " * 2000, 1000)
    for content in (b"", b"MZ\x90\x00" + b"\x00" * 60, b"<html><script>", b"PK\x03\x04zip"):
        with pytest.raises((ValidationFailedError,)):
            check_document(content, 1000)


def test_bundle_states_and_expiry(
    identity: Identity, app: object, database: MigratedDatabase
) -> None:
    org = identity.organization()
    now = utcnow()
    with database.sessions.begin() as db:
        bundle = kyc.create_bundle(
            db,
            org.id,
            country="FR",
            number_type="local",
            end_user_type="business",
            carrier="twilio",
            details={"company_name": "Acme SAS"},
        )
        assert kyc.bundle_details(db, bundle)["company_name"] == "Acme SAS"
        assert b"Acme" not in (bundle.details or b"")
        bundle.status = "pending_review"
        with pytest.raises(ConflictError):
            kyc.update_details(db, bundle, {"tax_id": "FR1"})
        kyc.record_decision(
            bundle,
            "rejected",
            "address not in the area",
            now,
            validity_days=365,
            retention_years=10,
        )
        assert bundle.rejection_reason == "address not in the area"
        # A rejected bundle is corrected as a draft again.
        kyc.update_details(db, bundle, {"tax_id": "FR1"})
        assert bundle.status == "draft"
        bundle.status = "pending_review"
        kyc.record_decision(bundle, "approved", None, now, validity_days=30, retention_years=10)
        assert bundle.expires_at == now + timedelta(days=30)
        with pytest.raises(ConflictError):
            kyc.record_decision(
                bundle, "pending_review", None, now, validity_days=1, retention_years=1
            )
        expired = kyc.expire_due(db, now + timedelta(days=31), retention_years=10)
        assert [item.id for item in expired] == [bundle.id]
        assert bundle.status == "expired"
        with pytest.raises(ConflictError):
            kyc.approved_bundle(db, org.id, bundle.id, "FR", "local", now)


def test_retention_purges_calls_activity_and_kyc(
    identity: Identity,
    database: MigratedDatabase,
    settings: Settings,
    app: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load_purgers()
    monkeypatch.setattr(
        kyc_retention, "blob_store", lambda: EncryptedBlobStore.from_settings(settings)
    )
    org = identity.organization()
    user = member_id(identity, org, "Ida")
    now = utcnow()
    with database.sessions.begin() as db:
        agent = make_agent(db, user, org, "Ida", ["de"], "available", idle_minutes=1)
        make_number(db, org, make_queue(db, org, [agent]))
        calls.inbound(db, to_number="+493012345670", from_number="+4915199999999", now=now)
        bundle = kyc.create_bundle(
            db,
            org.id,
            country="DE",
            number_type="local",
            end_user_type="business",
            carrier="twilio",
            details={},
        )
        store = EncryptedBlobStore.from_settings(settings)
        document = kyc.add_document(
            db, store, bundle, document_type="business_registration", content=PDF, max_bytes=1000
        )
        blob_id = document.blob_id
        bundle.status = "pending_review"
        kyc.record_decision(bundle, "rejected", "no", now, validity_days=1, retention_years=1)

    def count(model: type[object]) -> int:
        with database.sessions() as db:
            return int(db.scalar(select(func.count()).select_from(model)) or 0)

    run_purge(database.sessions, now=now + timedelta(days=10))
    assert count(CallRecord) == 1  # 30 days by default
    assert count(AgentActivity) > 0  # 90 days by default
    assert count(KycBundle) == 1  # kept until the regulatory end date
    run_purge(database.sessions, now=now + timedelta(days=100))
    assert count(CallRecord) == 0
    assert count(AgentActivity) == 0
    assert count(KycBundle) == 1
    run_purge(database.sessions, now=now + timedelta(days=400))
    assert count(KycBundle) == 0
    assert count(KycDocument) == 0
    assert not store.backend.exists(blob_id)


def test_outbound_call_uses_an_owned_number_as_caller_id(
    identity: Identity, database: MigratedDatabase, app: object
) -> None:
    org = identity.organization()
    other = identity.organization("Other")
    user = member_id(identity, org, "Olga")
    with database.sessions.begin() as db:
        agent = make_agent(db, user, org, "Olga", ["de"], "available", idle_minutes=1)
        queue = make_queue(db, org, [agent])
        own = make_number(db, org, queue)
        foreign = make_number(db, other, make_queue(db, other, []), e164="+493012345679")
        with pytest.raises(ConflictError):
            calls.outbound(
                db,
                agent,
                foreign,
                "+4915111111111",
                utcnow(),
                mode="transcription",
                caller_language=None,
            )
        call = calls.outbound(
            db, agent, own, "+4915111111111", utcnow(), mode="transcription", caller_language="de"
        )
        assert calls.numbers_of(db, call) == ("+493012345670", "+4915111111111")
        assert agent.active_calls == 1
        with pytest.raises(ConflictError):
            calls.outbound(
                db,
                agent,
                own,
                "+4915111111112",
                utcnow(),
                mode="transcription",
                caller_language=None,
            )


def test_cli_registers_sip_numbers_and_prints_requirements(
    identity: Identity,
    database: MigratedDatabase,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    org = identity.organization()
    monkeypatch.setenv("KALLGLOT_DATABASE_URL", database.url)
    monkeypatch.setenv("KALLGLOT_VAR_DIR", str(settings.var_dir))
    result = CliRunner().invoke(
        cli, ["numbers", "register-sip", org.id, "+41 44 123 45 67", "--country", "CH"]
    )
    assert result.exit_code == 0, result.output
    with database.sessions() as db:
        number = db.get(PhoneNumber, result.output.strip())
        assert number is not None and number.e164 == "+41441234567"
    listing = CliRunner().invoke(cli, ["numbers", "requirements", "--country", "BR"])
    assert "unknown" in listing.output
    assert CliRunner().invoke(cli, ["numbers", "expire-bundles"]).exit_code == 0
    refreshed = CliRunner().invoke(cli, ["numbers", "refresh-bundles"])
    assert refreshed.exit_code == 0, refreshed.output
    assert "0 bundles decided" in refreshed.output


def test_no_phone_numbers_in_logs(
    identity: Identity,
    database: MigratedDatabase,
    caplog: pytest.LogCaptureFixture,
    app: object,
) -> None:
    org = identity.organization()
    user = member_id(identity, org, "Lea")
    caplog.set_level(logging.DEBUG)
    with database.sessions.begin() as db:
        agent = make_agent(db, user, org, "Lea", ["de"], "available", idle_minutes=1)
        make_number(db, org, make_queue(db, org, [agent]), e164="+493055544433")
        routed = calls.inbound(
            db,
            to_number="+493055544433",
            from_number="+4917700011122",
            now=utcnow(),
            caller_language="de",
        )
        assert isinstance(routed.offer.agent, Agent)
        calls.answer(db, routed.call, routed.offer.agent, utcnow())
        calls.end(db, routed.call, utcnow())
    text = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert "4917700011122" not in text
