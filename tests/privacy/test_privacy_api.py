"""The privacy routes: who may do what, the envelope, an export end to end, the public list."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from kallglot import mail
from kallglot.accounts.permissions import Role
from kallglot.cli.main import app as cli
from kallglot.core.settings import Settings
from kallglot.mail.models import OutboxMessage
from kallglot.privacy.models import SubProcessor
from kallglot.privacy.subprocessors import add_subprocessor
from tests.conftest import MigratedDatabase
from tests.factories import Identity
from tests.support.waiting import wait_until


def test_a_user_exports_their_own_data_once_through_a_link(identity: Identity) -> None:
    org = identity.organization()
    owner = identity.client_as(Role.OWNER, org)
    agent = identity.user(org, Role.AGENT, name="Ida Marker-7f3c")
    client = identity.login(agent)

    wrong = client.post("/v1/privacy/my-requests", json={"type": "access", "password": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "reauthentication_failed"
    created = client.post(
        "/v1/privacy/my-requests", json={"type": "access", "password": agent.password}
    )
    assert created.status_code == 201, created.text
    request = created.json()
    assert request["verification_method"] == "session"
    # An agent cannot run requests; the owner (controller) does.
    assert client.post(f"/v1/privacy/requests/{request['id']}/execute", json={}).status_code == 403
    done = owner.post(f"/v1/privacy/requests/{request['id']}/execute", json={})
    assert done.status_code == 200, done.text
    wait_until(
        lambda: owner.get(f"/v1/privacy/requests/{request['id']}").json()["status"] == "completed",
        "the request did not complete",
    )
    link = owner.post(f"/v1/privacy/requests/{request['id']}/download-link").json()["url"]
    path = link.removeprefix(identity.settings.public_base_url)
    anonymous = identity.client()
    archive = anonymous.get(path)
    assert archive.status_code == 200
    assert archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as bundle:
        assert "Ida Marker-7f3c" in bundle.read("accounts.json").decode()
    again = anonymous.get(path)
    assert again.status_code == 404 and again.json()["error"]["code"] == "link_expired"


def test_requests_validate_input_and_admins_cannot_decide_them(identity: Identity) -> None:
    org = identity.organization()
    owner = identity.client_as(Role.OWNER, org)
    admin = identity.client_as(Role.ADMIN, org)
    both = owner.post(
        "/v1/privacy/requests", json={"type": "erasure", "email": "a@b.de", "phone": "+4930123"}
    )
    assert both.status_code == 422 and both.json()["error"]["param"] == "subject"
    unknown = owner.post("/v1/privacy/requests", json={"type": "forget", "email": "a@b.de"})
    assert unknown.status_code == 422
    assert (
        admin.post("/v1/privacy/requests", json={"type": "access", "email": "a@b.de"}).status_code
        == 403
    )
    created = owner.post(
        "/v1/privacy/requests", json={"type": "erasure", "phone": "+49 30 1234567"}
    )
    assert created.status_code == 201
    request_id = created.json()["id"]
    not_verified = owner.post(f"/v1/privacy/requests/{request_id}/execute", json={})
    assert not_verified.status_code == 409
    assert not_verified.json()["error"]["code"] == "subject_not_verified"
    owner.post(f"/v1/privacy/requests/{request_id}/attest", json={"note": "called from the number"})
    erased = owner.post(f"/v1/privacy/requests/{request_id}/execute", json={}).json()
    assert erased["status"] == "completed" and erased["outcome"]["keys_destroyed"] == 1


def test_legal_requests_are_for_compliance_only(identity: Identity) -> None:
    org = identity.organization()
    compliance = identity.client_as(Role.COMPLIANCE, org)
    admin = identity.client_as(Role.ADMIN, org)
    body = {"authority": "Polizei Berlin", "legal_basis": "StPO §100g", "scope": "calls of +4930"}
    assert admin.post("/v1/privacy/legal-requests", json=body).status_code == 403
    created = compliance.post("/v1/privacy/legal-requests", json=body)
    assert created.status_code == 201
    decided = compliance.post(
        f"/v1/privacy/legal-requests/{created.json()['id']}/decision",
        json={"decision": "refused", "pushback": "no court order attached"},
    )
    assert decided.json()["decision"] == "refused"
    assert decided.json()["pushback"] == "no court order attached"
    twice = compliance.post(
        f"/v1/privacy/legal-requests/{created.json()['id']}/decision",
        json={"decision": "disclosed"},
    )
    assert twice.status_code == 409
    assert admin.get("/v1/privacy/legal-requests").status_code == 403


def test_the_subprocessor_list_is_public_and_owners_hear_14_days_ahead(
    identity: Identity, database: MigratedDatabase, settings: Settings, app: FastAPI
) -> None:
    org = identity.organization()
    owner = identity.user(org, Role.OWNER)
    identity.user(org, Role.AGENT)
    with database.sessions.begin() as db:
        _, notified = add_subprocessor(
            db,
            settings,
            name="Example Cloud GmbH",
            purpose="hosting",
            location="Germany (EU)",
            data_categories=["call audio", "transcripts"],
            dpa_url="https://example.com/dpa",
        )
    listing = TestClient(app).get("/v1/privacy/subprocessors")  # anonymous, no lifespan needed
    assert listing.status_code == 200
    entry = listing.json()["data"][0]
    assert entry["name"] == "Example Cloud GmbH"
    with database.sessions.begin() as db:
        mails = [mail.read(db, message).to for message in db.scalars(select(OutboxMessage))]
    assert notified == 1 and mails == [owner.email]


def test_the_cli_announces_a_subprocessor(
    database: MigratedDatabase, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KALLGLOT_DATABASE_URL", database.url)
    monkeypatch.setenv("KALLGLOT_VAR_DIR", str(tmp_path))
    result = CliRunner().invoke(
        cli,
        [
            "privacy", "subprocessor-add", "--name", "Speech Cloud SA", "--purpose", "backup",
            "--location", "France", "--dpa-url", "https://example.com/dpa",
            "--category", "recordings", "--category", "transcripts",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "0 owners notified" in result.output
    with database.sessions.begin() as db:
        entry = db.scalars(select(SubProcessor)).one()
    assert entry.data_categories == ["recordings", "transcripts"]
