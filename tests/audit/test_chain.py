"""The audit log's hash chain: appended per organization, verified, tampering found."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import select, update

from kallglot import audit
from kallglot.audit import AuditContext, SystemActor
from kallglot.audit.models import AuditEvent
from kallglot.db.engine import transaction
from tests.conftest import MigratedDatabase


def append(database: MigratedDatabase, organization_id: str, count: int) -> None:
    for number in range(count):
        with transaction(database.sessions) as db:
            audit.record(
                db,
                SystemActor(organization_id=organization_id, actor_type="user", actor_id="usr_1"),
                "member.role_changed",
                target=("member", f"mem_{number}"),
                changes={"from": "agent", "to": "supervisor", "password": "hunter2-secret"},
                context=AuditContext(ip="203.0.113.9", user_agent="pytest", request_id="req_1"),
            )


def test_records_form_one_chain_per_organization(database: MigratedDatabase) -> None:
    append(database, "org_a", 3)
    append(database, "org_b", 2)
    with database.sessions() as db:
        events = db.scalars(
            select(AuditEvent).order_by(AuditEvent.chain, AuditEvent.sequence)
        ).all()
        assert [(event.chain, event.sequence) for event in events] == [
            ("org_a", 1),
            ("org_a", 2),
            ("org_a", 3),
            ("org_b", 1),
            ("org_b", 2),
        ]
        assert events[1].prev_hash == events[0].hash
        assert all(report.ok for report in audit.verify(db))


def test_secrets_are_redacted_from_the_change_summary(database: MigratedDatabase) -> None:
    append(database, "org_a", 1)
    with database.sessions() as db:
        event = db.scalar(select(AuditEvent))
        assert event is not None
        assert event.changes == {"from": "agent", "to": "supervisor", "password": "[redacted]"}
        assert event.ip == "203.0.113.9" and event.request_id == "req_1"


def test_a_tampered_row_is_reported_at_its_sequence(database: MigratedDatabase) -> None:
    append(database, "org_a", 5)
    with transaction(database.sessions) as db:
        db.execute(
            update(AuditEvent)
            .where(AuditEvent.chain == "org_a", AuditEvent.sequence == 3)
            .values(result="failure")
        )
    with database.sessions() as db:
        (report,) = audit.verify(db, "org_a")
    assert report.broken_at == 3
    assert report.reason == "record was altered"


def test_a_deleted_row_is_reported(database: MigratedDatabase) -> None:
    append(database, "org_a", 4)
    with transaction(database.sessions) as db:
        db.execute(
            AuditEvent.__table__.delete().where(
                AuditEvent.chain == "org_a", AuditEvent.sequence == 2
            )
        )
    with database.sessions() as db:
        (report,) = audit.verify(db, "org_a")
    assert report.broken_at == 2


def test_kallglot_audit_verify_names_the_broken_sequence(database: MigratedDatabase) -> None:
    append(database, "org_a", 4)
    env = {**os.environ, "KALLGLOT_DATABASE_URL": database.url}
    command = [sys.executable, "-m", "kallglot", "audit", "verify"]
    ok = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "org_a: ok (4 records)" in ok.stdout
    with transaction(database.sessions) as db:
        db.execute(
            update(AuditEvent)
            .where(AuditEvent.chain == "org_a", AuditEvent.sequence == 2)
            .values(changes={"from": "agent", "to": "owner"})
        )
    broken = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert broken.returncode == 1
    assert "org_a: BROKEN at sequence 2" in broken.stdout


def test_concurrent_writers_never_fork_the_chain(database: MigratedDatabase) -> None:
    import threading

    errors: list[BaseException] = []

    def writer() -> None:
        try:
            append(database, "org_busy", 10)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with database.sessions() as db:
        (report,) = audit.verify(db, "org_busy")
        sequences = db.scalars(
            select(AuditEvent.sequence).where(AuditEvent.chain == "org_busy")
        ).all()
    assert report.ok and report.records == 40
    assert sorted(sequences) == list(range(1, 41))
