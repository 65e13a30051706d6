"""Data-subject requests stay inside the organization that makes them (issue 20, finding 1)."""

from __future__ import annotations

import io
import zipfile

from fastapi.testclient import TestClient
from sqlalchemy import select

from kallglot.accounts.models import Invitation
from kallglot.accounts.permissions import Role
from tests.accounts.mail_helpers import mails_to
from tests.conftest import MigratedDatabase
from tests.factories import Identity


def _execute(client: TestClient, body: dict[str, str]) -> dict[str, object]:
    created = client.post("/v1/privacy/requests", json=body)
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    attested = client.post(
        f"/v1/privacy/requests/{request_id}/attest", json={"note": "known to us"}
    )
    assert attested.status_code == 200, attested.text
    done = client.post(f"/v1/privacy/requests/{request_id}/execute", json={})
    assert done.status_code == 200, done.text
    result: dict[str, object] = done.json()
    return result


def _mails_to(database: MigratedDatabase, address: str) -> int:
    return len(mails_to(database, address))


def test_an_organization_cannot_open_a_request_about_another_organizations_user(
    identity: Identity,
) -> None:
    org_a, org_b = identity.organization("A"), identity.organization("B")
    user_a = identity.user(org_a, Role.AGENT)
    owner_b = identity.client_as(Role.OWNER, org_b)
    for kind in ("access", "erasure", "rectification", "restriction"):
        refused = owner_b.post("/v1/privacy/requests", json={"type": kind, "user_id": user_a.id})
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["param"] == "user_id"
    # The same user, once a member of B, is B's subject too.
    identity.add_membership(user_a, org_b, Role.AGENT)
    assert (
        owner_b.post(
            "/v1/privacy/requests", json={"type": "access", "user_id": user_a.id}
        ).status_code
        == 201
    )


def test_an_erasure_by_email_leaves_another_organizations_mail_and_account(
    identity: Identity, database: MigratedDatabase
) -> None:
    org_a, org_b = identity.organization("A"), identity.organization("B")
    user_a = identity.user(org_a, Role.AGENT, name="Alma Marker-41c")
    owner_a = identity.client_as(Role.OWNER, org_a)
    owner_b = identity.client_as(Role.OWNER, org_b)
    guest = "guest-41c@example.com"
    for client in (owner_a, owner_b):
        invited = client.post("/v1/invitations", json={"email": guest, "role": "agent"})
        assert invited.status_code == 201, invited.text
    assert _mails_to(database, guest) == 2

    _execute(owner_b, {"type": "erasure", "email": guest})
    _execute(owner_b, {"type": "erasure", "email": user_a.email})

    # B's own invitation mail went; A's stays, and so does A's invitation.
    assert _mails_to(database, guest) == 1
    with database.sessions() as db:
        invitations = db.scalars(select(Invitation.organization_id)).all()
    assert invitations == [org_a.id]
    kept = identity.get_user(user_a.id)
    assert kept.is_active and kept.name == "Alma Marker-41c"
    assert identity.login(user_a).get("/v1/auth/me").status_code == 200


def test_an_access_request_by_email_does_not_export_another_organizations_user(
    identity: Identity,
) -> None:
    org_a, org_b = identity.organization("A"), identity.organization("B")
    user_a = identity.user(org_a, Role.AGENT, name="Alma Marker-77d")
    owner_b = identity.client_as(Role.OWNER, org_b)
    request = _execute(owner_b, {"type": "access", "email": user_a.email})
    # The test client returns once the background export has run.
    assert owner_b.get(f"/v1/privacy/requests/{request['id']}").json()["status"] == "completed"
    link = owner_b.post(f"/v1/privacy/requests/{request['id']}/download-link").json()["url"]
    archive = identity.client().get(link.removeprefix(identity.settings.public_base_url))
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as bundle:
        everything = b"".join(bundle.read(name) for name in bundle.namelist())
    assert b"Alma Marker-77d" not in everything
