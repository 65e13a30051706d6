"""Dates in queries and bodies (issue 20, finding 7): a date or a zoned datetime is accepted,
a naive datetime or a window that ends before it starts is a 422 envelope, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import Identity

# Every GET route that filters by a time window.
WINDOWED = [
    "/v1/audit-events",
    "/v1/audit-events/export",
    "/v1/calls",
    "/v1/calls/export",
    "/v1/analytics/minutes",
    "/v1/analytics/minutes.csv",
    "/v1/analytics/language-pairs",
    "/v1/analytics/directions",
    "/v1/analytics/numbers",
    "/v1/analytics/latency",
    "/v1/analytics/agents",
]

INVOICE_PROFILE = {
    "company_name": "Société Générale d'Interprétation",
    "billing_email": "factures@example.fr",
    "address": {
        "line1": "12 rue de Rivoli",
        "postal_code": "75004",
        "city": "Paris",
        "country": "FR",
    },
    "vat_id": "FR40303265045",
    "iban": "FR14 2004 1010 0505 0001 3M02 606",
    "bic": "PSSTFRPPPAR",
    "plan": "contract",
}


@pytest.fixture
def owner(identity: Identity) -> TestClient:
    return identity.key_client(identity.api_key(identity.organization()))


def _windowed_routes(app: FastAPI) -> list[str]:
    paths = app.openapi()["paths"]
    found = [
        path
        for path, operations in paths.items()
        if any(p["name"] == "since" for p in operations.get("get", {}).get("parameters", []))
    ]
    assert sorted(found) == sorted(WINDOWED), "a new windowed route: add it to WINDOWED"
    return found


def _error(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def test_windowed_routes_accept_a_date_and_a_zoned_datetime(
    app: FastAPI, owner: TestClient
) -> None:
    for path in _windowed_routes(app):
        for since in ("2026-01-01", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00"):
            response = owner.get(path, params={"since": since, "until": "2026-02-01"})
            assert response.status_code == 200, (path, since, response.text)


def test_naive_datetime_is_refused_with_422(app: FastAPI, owner: TestClient) -> None:
    for path in _windowed_routes(app):
        for param in ("since", "until"):
            response = owner.get(path, params={param: "2026-01-01T10:00:00"})
            assert response.status_code == 422, (path, response.text)
            assert _error(response)["param"] == f"query.{param}"


def test_window_that_ends_before_it_starts_is_422(app: FastAPI, owner: TestClient) -> None:
    for path in _windowed_routes(app):
        response = owner.get(path, params={"since": "2026-03-01", "until": "2026-02-01"})
        assert response.status_code == 422, (path, response.text)
        assert _error(response)["code"] == "invalid_window"


def test_invoice_period_takes_a_date_and_refuses_a_naive_datetime(owner: TestClient) -> None:
    assert owner.put("/v1/billing/profile", json=INVOICE_PROFILE).status_code == 200
    naive = owner.post(
        "/v1/billing/invoices",
        json={"period_start": "2026-01-01T00:00:00", "period_end": "2026-02-01"},
    )
    assert naive.status_code == 422, naive.text
    assert _error(naive)["param"] == "period_start"
    dated = owner.post(
        "/v1/billing/invoices", json={"period_start": "2026-01-01", "period_end": "2026-02-01"}
    )
    assert dated.status_code == 201, dated.text


# What a client might put in a query string: dates, datetimes with and without a zone, numbers,
# and anything else.
_DATEISH = st.one_of(
    st.dates().map(str),
    st.datetimes().map(lambda moment: moment.isoformat()),
    st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
    st.integers().map(str),
    st.text(max_size=40),
)


def test_no_list_or_analytics_query_answers_5xx(app: FastAPI, owner: TestClient) -> None:
    routes = [
        (path, [p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "query"])
        for path, operations in app.openapi()["paths"].items()
        if "get" in operations and "{" not in path
    ]
    routes = [(path, names) for path, names in routes if names]
    assert len(routes) >= len(WINDOWED)

    @settings(
        max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(data=st.data())
    def probe(data: st.DataObject) -> None:
        path, names = data.draw(st.sampled_from(routes))
        chosen = data.draw(st.lists(st.sampled_from(names), unique=True))
        params = {name: data.draw(_DATEISH) for name in chosen}
        response = owner.get(path, params=params)
        assert response.status_code < 500, (path, params, response.text)

    probe()
