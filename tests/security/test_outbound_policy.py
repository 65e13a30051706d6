"""Webhooks cannot be pointed into the server's own network (issue 20, finding 3: SSRF).

Refused URLs are only registered, never delivered to; every delivery in these tests goes to a
loopback receiver, either refused by the policy or allowed through the allow-list.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from kallglot.accounts.permissions import Permission
from kallglot.core.errors import ValidationFailedError
from kallglot.core.outbound import OutboundPolicy, Resolver, parse_networks
from kallglot.core.settings import load_settings
from kallglot.realtime import webhooks
from kallglot.realtime.webhooks import WebhookDelivery, WebhookDispatcher
from tests.conftest import MigratedDatabase
from tests.factories import Identity

INTERNAL_URLS = [
    "http://127.0.0.1:8000/hook",
    "http://localhost:6379/",
    "http://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/",
    "https://172.16.5.4/",
    "https://192.168.1.1/",
    "https://100.64.0.1/",  # CGNAT
    "https://224.0.0.251/",  # multicast
    "https://240.0.0.1/",  # reserved
    "https://0.0.0.0/",
    "https://[::1]/",
    "https://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
    "https://[fe80::1]/",
    "https://[fd00::1]/",
    "https://internal.example.test/",  # a name that resolves to a private address
]
LOOPBACK = ["127.0.0.0/8", "::1/128"]


def resolver(table: dict[str, list[str]], calls: list[str] | None = None) -> Resolver:
    """Names of our own choosing, so that no test depends on (or leaks to) real DNS."""

    async def resolve(host: str, _port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host in table:
            return table[host]
        raise OSError("no such name")

    return resolve


FAKE_DNS = {"internal.example.test": ["10.1.2.3"], "localhost": ["127.0.0.1", "::1"]}


@pytest.fixture
def receiver(httpserver: HTTPServer) -> list[Request]:
    received: list[Request] = []

    def handler(request: Request) -> Response:
        received.append(request)
        return Response("ok", status=200)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
    return received


def test_registration_refuses_internal_destinations(app: FastAPI, identity: Identity) -> None:
    app.state.outbound_policy = OutboundPolicy(https_only=False, resolver=resolver(FAKE_DNS))
    org = identity.organization()
    client = identity.key_client(identity.api_key(org, [Permission.WEBHOOKS_MANAGE]))
    for url in INTERNAL_URLS:
        response = client.post("/v1/webhooks", json={"url": url, "events": ["session.ended"]})
        assert response.status_code == 422, (url, response.text)
        assert response.json()["error"]["code"] == "url_not_allowed"
        assert response.json()["error"]["param"] == "url"
    assert client.get("/v1/webhooks").json()["data"] == []


def test_allow_list_admits_an_on_premises_receiver(
    app: FastAPI, identity: Identity, httpserver: HTTPServer
) -> None:
    app.state.outbound_policy = OutboundPolicy(
        https_only=False, allowed_networks=parse_networks(LOOPBACK)
    )
    client = identity.key_client(
        identity.api_key(identity.organization(), [Permission.WEBHOOKS_MANAGE])
    )
    url = f"http://127.0.0.1:{httpserver.port}/hook"
    response = client.post("/v1/webhooks", json={"url": url, "events": ["session.ended"]})
    assert response.status_code == 201, response.text


def test_production_accepts_only_https() -> None:
    production = load_settings(
        env="production",
        master_key="A" * 43 + "=",
        database_url="postgresql+psycopg://kallglot@db/kallglot",
    )
    policy = OutboundPolicy.from_settings(production)
    with pytest.raises(ValidationFailedError):
        policy.check_url("http://hooks.example.com/kallglot")
    assert policy.check_url("https://hooks.example.com/kallglot") == ("hooks.example.com", 443)
    assert not OutboundPolicy.from_settings(load_settings(env="test")).https_only


def test_public_addresses_pass_and_internal_ones_do_not() -> None:
    policy = OutboundPolicy()
    for public in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"):
        assert policy.address_allowed(public), public
    for internal in ("127.0.0.1", "10.0.0.1", "100.64.0.1", "169.254.169.254", "::1", "fc00::1"):
        assert not policy.address_allowed(internal), internal


def _queue(database: MigratedDatabase, organization_id: str, url: str) -> None:
    """An endpoint stored as if registered while its name pointed elsewhere."""
    with database.sessions.begin() as db:
        webhooks.create_endpoint(db, organization_id, url, ["session.ended"])
        webhooks.emit(db, organization_id, "session.ended", {"id": "sess_1"})


def _delivery(database: MigratedDatabase) -> WebhookDelivery:
    with database.sessions() as db:
        found = db.scalar(select(WebhookDelivery))
    assert found is not None
    return found


async def test_delivery_refuses_a_name_re_pointed_at_a_refused_address(
    database: MigratedDatabase,
    identity: Identity,
    httpserver: HTTPServer,
    receiver: list[Request],
) -> None:
    # Registered while the name was public; it now resolves to loopback (DNS rebinding).
    rebound = resolver({"hooks.example.test": ["127.0.0.1"]})
    _queue(
        database, identity.organization().id, f"http://hooks.example.test:{httpserver.port}/hook"
    )
    async with WebhookDispatcher(
        database.sessions, OutboundPolicy(https_only=False, resolver=rebound)
    ) as dispatcher:
        assert await dispatcher.deliver_due() == 1
    assert receiver == []
    logged = _delivery(database)
    assert logged.last_error == webhooks.DESTINATION_NOT_ALLOWED
    assert logged.last_status_code is None


async def test_delivery_connects_to_the_address_it_checked_keeping_the_host(
    database: MigratedDatabase,
    identity: Identity,
    httpserver: HTTPServer,
    receiver: list[Request],
) -> None:
    calls: list[str] = []
    # Only the policy's resolver knows this name: the request can arrive only if the
    # connection went to the address the policy resolved and checked.
    pinned = OutboundPolicy(
        https_only=False,
        allowed_networks=parse_networks(LOOPBACK),
        resolver=resolver({"hooks.example.test": ["127.0.0.1"]}, calls),
    )
    _queue(
        database, identity.organization().id, f"http://hooks.example.test:{httpserver.port}/hook"
    )
    async with WebhookDispatcher(database.sessions, pinned) as dispatcher:
        assert await dispatcher.deliver_due() == 1
    assert len(receiver) == 1
    assert receiver[0].headers["Host"] == f"hooks.example.test:{httpserver.port}"
    assert calls == ["hooks.example.test"]
    assert _delivery(database).status == "succeeded"


@pytest.mark.parametrize(
    "make_url",
    [
        lambda port: f"http://127.0.0.1:{port}/hook",
        lambda port: f"http://[::ffff:127.0.0.1]:{port}/hook",
        lambda port: f"http://localhost:{port}/hook",
    ],
)
async def test_delivery_to_loopback_is_refused_without_the_allow_list(
    database: MigratedDatabase,
    identity: Identity,
    httpserver: HTTPServer,
    receiver: list[Request],
    make_url: Callable[[int], str],
) -> None:
    _queue(database, identity.organization().id, make_url(httpserver.port))
    policy = OutboundPolicy(https_only=False, resolver=resolver(FAKE_DNS))
    async with WebhookDispatcher(database.sessions, policy) as dispatcher:
        assert await dispatcher.deliver_due() == 1
    assert receiver == []
    assert _delivery(database).last_error == webhooks.DESTINATION_NOT_ALLOWED
