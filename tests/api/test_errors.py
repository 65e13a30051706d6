"""Every failure answers with the one error envelope and a request id."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import Field

from kallglot.core.errors import NotFoundError
from kallglot.core.schemas import RequestModel


class WidgetIn(RequestModel):
    name: str = Field(min_length=1, max_length=50)
    count: int


@pytest.fixture
def widget_app(app: FastAPI) -> FastAPI:
    @app.post("/v1/widgets")
    def create_widget(widget: WidgetIn) -> dict[str, object]:
        return {"name": widget.name, "count": widget.count}

    @app.get("/v1/widgets/{widget_id}")
    def get_widget(widget_id: str) -> dict[str, str]:
        raise NotFoundError(f"No widget {widget_id}.", param="widget_id")

    @app.get("/v1/explode")
    def explode() -> None:
        raise RuntimeError("secret internals: /etc/shadow")

    return app


@pytest.fixture
def api(widget_app: FastAPI) -> TestClient:
    return TestClient(widget_app, raise_server_exceptions=False)


def assert_envelope(
    response_json: dict[str, object], error_type: str, code: str
) -> dict[str, object]:
    assert set(response_json) == {"error"}
    error = response_json["error"]
    assert isinstance(error, dict)
    assert error["type"] == error_type
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert str(error["request_id"]).startswith("req_")
    return error


def test_malformed_json_is_invalid_json(api: TestClient) -> None:
    response = api.post(
        "/v1/widgets", content=b'{"name": "a",', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert_envelope(response.json(), "invalid_request_error", "invalid_json")


def test_unknown_field_is_named(api: TestClient) -> None:
    response = api.post("/v1/widgets", json={"name": "a", "count": 1, "colour": "red"})
    assert response.status_code == 422
    error = assert_envelope(response.json(), "validation_error", "unknown_field")
    assert error["param"] == "colour"


def test_wrong_type_is_named(api: TestClient) -> None:
    response = api.post("/v1/widgets", json={"name": "a", "count": "many"})
    assert response.status_code == 422
    error = assert_envelope(response.json(), "validation_error", "invalid_field_value")
    assert error["param"] == "count"


def test_missing_field_is_named(api: TestClient) -> None:
    response = api.post("/v1/widgets", json={"name": "a"})
    assert response.status_code == 422
    error = assert_envelope(response.json(), "validation_error", "missing_required_field")
    assert error["param"] == "count"


def test_unknown_route_is_enveloped(api: TestClient) -> None:
    response = api.get("/v1/no-such-thing")
    assert response.status_code == 404
    assert_envelope(response.json(), "invalid_request_error", "route_not_found")
    assert response.headers["x-request-id"].startswith("req_")


def test_domain_error_carries_param(api: TestClient) -> None:
    response = api.get("/v1/widgets/w1")
    assert response.status_code == 404
    error = assert_envelope(response.json(), "invalid_request_error", "resource_not_found")
    assert error["param"] == "widget_id"


def test_server_error_hides_the_trace_and_logs_the_request_id(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = api.get("/v1/explode")
    assert response.status_code == 500
    error = assert_envelope(response.json(), "api_error", "internal_error")
    assert "shadow" not in response.text and "Traceback" not in response.text
    assert response.headers["x-request-id"] == error["request_id"]
    crash = [record for record in caplog.records if record.message == "unhandled error"]
    assert crash and crash[0].exc_info is not None
    assert getattr(crash[0], "request_id", None) == error["request_id"]


def test_oversized_body_is_refused(api: TestClient, widget_app: FastAPI) -> None:
    limit = widget_app.state.settings.max_request_bytes
    response = api.post(
        "/v1/widgets",
        content=b"x" * (limit + 1),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert_envelope(response.json(), "invalid_request_error", "payload_too_large")


def test_every_response_has_a_request_id(api: TestClient) -> None:
    assert api.get("/healthz").headers["x-request-id"].startswith("req_")
