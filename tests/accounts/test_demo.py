"""The demo seed: owner, agent and API key, with their credentials in a 0600 file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from kallglot.accounts.demo import credentials_path, seed_demo_accounts, write_credentials
from kallglot.core.settings import Settings
from kallglot.db.engine import transaction
from tests.conftest import MigratedDatabase
from tests.factories import Identity


def seed(database: MigratedDatabase, settings: Settings) -> Path:
    with transaction(database.sessions) as db:
        _organization, credentials = seed_demo_accounts(db, settings)
    if credentials is not None:
        write_credentials(settings, credentials)
    return credentials_path(settings)


def test_demo_credentials_open_the_demo(
    identity: Identity, database: MigratedDatabase, settings: Settings
) -> None:
    path = seed(database, settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    credentials = json.loads(path.read_text())
    client = identity.client()
    owner = client.post(
        "/v1/auth/login",
        json={"email": credentials["owner_email"], "password": credentials["owner_password"]},
    )
    assert owner.status_code == 200
    assert owner.json()["organization_id"] == credentials["organization_id"]
    agent = identity.client().post(
        "/v1/auth/login",
        json={"email": credentials["agent_email"], "password": credentials["agent_password"]},
    )
    assert agent.status_code == 200
    by_key = identity.client().get(
        "/v1/organization", headers={"Authorization": f"Bearer {credentials['api_key']}"}
    )
    assert by_key.status_code == 200 and by_key.json()["id"] == credentials["organization_id"]


def test_seeding_again_keeps_working_credentials(
    database: MigratedDatabase, settings: Settings
) -> None:
    path = seed(database, settings)
    first = path.read_text()
    seed(database, settings)
    assert path.read_text() == first
    path.unlink()
    seed(database, settings)
    assert path.read_text() != first  # lost file: fresh credentials, the old key revoked


def test_production_gets_no_demo_accounts(database: MigratedDatabase, settings: Settings) -> None:
    production = settings.model_copy(update={"env": "production"})
    with transaction(database.sessions) as db:
        _organization, credentials = seed_demo_accounts(db, production)
    assert credentials is None
