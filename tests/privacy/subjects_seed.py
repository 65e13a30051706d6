"""Seeds a data subject into every store, with a unique marker string in each value."""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from kallglot.accounts.models import Organization
from kallglot.accounts.organizations import add_member, create_user
from kallglot.accounts.permissions import Role
from kallglot.audit.log import SystemActor
from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings
from kallglot.crypto import EncryptedBlobStore
from kallglot.db.registry import metadata
from kallglot.mail import sender as mail
from kallglot.privacy import requests as dsr
from kallglot.privacy.requests import RequestType
from kallglot.realtime.models import CallSession, Recording, TranscriptTurn
from kallglot.realtime.transcripts import seal_turn_text
from kallglot.realtime.webhooks import create_endpoint, emit
from kallglot.telephony.calls.service import new_record
from kallglot.telephony.kyc import service as kyc
from kallglot.telephony.routing.models import Agent
from kallglot.telephony.routing.service import create_agent, log_activity
from tests.conftest import MigratedDatabase

# The smallest PNG header filetype recognises; the marker follows it.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 16


@dataclass
class Seeded:
    organization_id: str
    phone: str
    markers: list[str] = field(default_factory=list)
    kept_markers: list[str] = field(default_factory=list)
    session_id: str = ""
    turn_id: str = ""
    agent_user_id: str = ""
    agent_markers: list[str] = field(default_factory=list)


def marker(label: str) -> str:
    return f"MK{label}{secrets.token_hex(6)}"


def make_organization(db: Session) -> str:
    org_id = new_id("org")
    db.add(Organization(id=org_id, name="Privacy Org", slug=org_id.lower()))
    db.flush()
    create_endpoint(db, org_id, "https://hooks.example.com/kallglot", ["transcript.final"])
    return org_id


def seed_caller(
    db: Session, settings: Settings, blobs: EncryptedBlobStore, org_id: str, label: str
) -> Seeded:
    """An external caller (by phone number) with a call, transcript, recording, webhook
    event and a KYC bundle naming them; and the agent (a user) who answered."""
    phone = f"+4915{secrets.randbelow(10**8):08d}"
    seeded = Seeded(organization_id=org_id, phone=phone)
    text, translation, audio, event, kyc_note = (marker(f"{label}{n}") for n in range(5))
    seeded.markers += [text, translation, audio, event, phone]
    seeded.kept_markers.append(kyc_note)

    agent_name, agent_email = marker(f"{label}name"), f"{marker(label + 'mail').lower()}@ex.com"
    user = create_user(
        db, settings, email=agent_email, name=agent_name, password="x" * 20, check_rules=False
    )
    add_member(db, org_id, user.id, Role.AGENT)
    agent = create_agent(db, org_id, user.id, "Agent", ["de"], utcnow())
    log_activity(db, agent, "signed_in")
    mail.send(db, settings, mail.Mail(to=agent_email, subject="Welcome", body=agent_name))
    seeded.agent_user_id = user.id
    seeded.agent_markers += [agent_name, agent_email]

    call_session = CallSession(
        id=new_id("sess"), organization_id=org_id, mode="transcription", status="ended"
    )
    db.add(call_session)
    db.flush()
    record = new_record(
        db,
        org_id,
        direction="inbound",
        from_number=phone,
        to_number="+493012345670",
        now=utcnow(),
        session_id=call_session.id,
    )
    record.agent_id = db.scalar(select(Agent.id).where(Agent.user_id == user.id))
    turn_id = new_id("turn")
    sealed_text, sealed_translation = seal_turn_text(db, org_id, turn_id, text, translation)
    db.add(
        TranscriptTurn(
            id=turn_id,
            session_id=call_session.id,
            organization_id=org_id,
            sequence=1,
            speaker="caller",
            language="de",
            text_encrypted=sealed_text,
            translation_language="en",
            translation_encrypted=sealed_translation,
            start_ms=0,
            end_ms=1000,
        )
    )
    db.add(
        Recording(
            id=new_id("rec"),
            session_id=call_session.id,
            organization_id=org_id,
            blob_id=blobs.put(db, org_id, b"RIFF" + audio.encode()),
            duration_seconds=1.0,
            sample_rate=16000,
            channels=1,
            size_bytes=4 + len(audio),
        )
    )
    emit(db, org_id, "transcript.final", {"session_id": call_session.id, "text": event})
    bundle = kyc.create_bundle(
        db,
        org_id,
        country="DE",
        number_type="local",
        end_user_type="business",
        carrier="twilio",
        details={"contact_phone": phone, "note": kyc_note},
    )
    kyc.add_document(
        db, blobs, bundle, document_type="business_registration", content=PNG, max_bytes=10_000
    )
    db.flush()
    seeded.session_id, seeded.turn_id = call_session.id, turn_id
    return seeded


ACTOR = SystemActor(actor_type="user", actor_id="usr_privacy_officer")


def verified_request(
    database: MigratedDatabase, org_id: str, kind: RequestType, **subject: str
) -> str:
    with database.sessions.begin() as db:
        request = dsr.open_request(db, org_id, kind, ACTOR, **subject)
        dsr.attest(db, request, ACTOR, "caller confirmed name and last call date on the line")
        return request.id


def seed_two(
    database: MigratedDatabase, settings: Settings, blobs: EncryptedBlobStore
) -> tuple[Seeded, Seeded]:
    with database.sessions.begin() as db:
        org_id = make_organization(db)
        return (
            seed_caller(db, settings, blobs, org_id, "A"),
            seed_caller(db, settings, blobs, org_id, "B"),
        )


def everything_stored(database: MigratedDatabase) -> str:
    """Every row of every table, as text (what a scan of each store sees)."""
    with database.engine.connect() as connection:
        return "\n".join(
            repr(row)
            for table in metadata.sorted_tables
            for row in connection.execute(table.select())
        )


def raw_bytes(database: MigratedDatabase, blob_root: Path) -> bytes:
    files = [path for path in blob_root.rglob("*") if path.is_file()]
    if database.backend == "sqlite":
        db_file = Path(database.engine.url.database or "")
        files += [p for p in db_file.parent.glob(db_file.name + "*") if p.is_file()]
    # Read by another process: closing any descriptor of the database file in this one would
    # drop SQLite's POSIX locks on it, and the next process to close it (a CLI test) would then
    # delete the write-ahead log from under our connections ("disk I/O error").
    return subprocess.run(["cat", *map(str, files)], capture_output=True, check=True).stdout
