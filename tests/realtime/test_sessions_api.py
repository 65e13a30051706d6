"""The sessions REST API: shapes of the public API, idempotency, isolation, clear refusals."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kallglot.accounts.permissions import Permission
from tests.factories import Identity

CREATE = {
    "mode": "bidirectional_translation",
    "source_language": "es",
    "target_language": "en",
    "metadata": {"external_call_id": "c-1"},
}


def writer(identity: Identity) -> TestClient:
    organization = identity.organization()
    key = identity.api_key(
        organization,
        [Permission.SESSIONS_WRITE, Permission.SESSIONS_READ, Permission.TRANSCRIPTS_READ],
    )
    return identity.key_client(key)


def test_create_returns_a_stream_and_is_idempotent(identity: Identity) -> None:
    client = writer(identity)
    headers = {"Idempotency-Key": "call-1"}
    first = client.post("/v1/sessions", json=CREATE, headers=headers)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["id"].startswith("sess_")
    assert body["object"] == "session"
    assert body["status"] == "created"
    assert body["stream"]["token"].startswith("kst_")
    assert body["stream"]["url"].endswith(f"/v1/sessions/{body['id']}/connect")
    assert body["stream"]["url"].startswith("ws")
    assert body["metadata"] == {"external_call_id": "c-1"}
    again = client.post("/v1/sessions", json=CREATE, headers=headers)
    assert again.json()["id"] == body["id"]
    assert client.get("/v1/sessions").json()["data"][0]["id"] == body["id"]
    assert len(client.get("/v1/sessions").json()["data"]) == 1


def test_retrieve_list_end_and_transcript(identity: Identity) -> None:
    client = writer(identity)
    created = [client.post("/v1/sessions", json=CREATE).json()["id"] for _ in range(3)]
    page = client.get("/v1/sessions", params={"limit": 2}).json()
    assert [item["id"] for item in page["data"]] == created[::-1][:2]
    assert page["has_more"] is True
    rest = client.get("/v1/sessions", params={"starting_after": page["next_cursor"]}).json()
    assert [item["id"] for item in rest["data"]] == [created[0]]
    session_id = created[0]
    assert client.get(f"/v1/sessions/{session_id}").json()["stream"] is None
    ended = client.post(f"/v1/sessions/{session_id}/end", json={"reason": "agent_hangup"})
    assert ended.status_code == 200
    assert ended.json()["status"] == "ended"
    assert ended.json()["end_reason"] == "agent_hangup"
    again = client.post(f"/v1/sessions/{session_id}/end")
    assert again.json() == ended.json()
    assert client.get("/v1/sessions", params={"status": "ended"}).json()["data"][0]["id"] == (
        session_id
    )
    transcript = client.get(f"/v1/sessions/{session_id}/transcript").json()
    assert transcript["id"] == f"trn_{session_id}"
    assert transcript["status"] == "completed"
    assert transcript["turns"] == []


def test_another_organization_gets_not_found(identity: Identity) -> None:
    session_id = writer(identity).post("/v1/sessions", json=CREATE).json()["id"]
    stranger = writer(identity)
    for path in (f"/v1/sessions/{session_id}", f"/v1/sessions/{session_id}/transcript"):
        response = stranger.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "session_not_found"
    assert stranger.post(f"/v1/sessions/{session_id}/end").status_code == 404


def test_a_key_without_the_permission_is_refused(identity: Identity) -> None:
    organization = identity.organization()
    reader = identity.key_client(identity.api_key(organization, [Permission.SESSIONS_READ]))
    response = reader.post("/v1/sessions", json=CREATE)
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"


def test_bad_requests_get_the_envelope(identity: Identity) -> None:
    client = writer(identity)
    for body, param in [
        ({**CREATE, "mode": "karaoke"}, "mode"),
        ({**CREATE, "source_language": "spanish"}, "source_language"),
        ({**CREATE, "routing": {"phone_number": "12345"}}, "routing.phone_number"),
        ({**CREATE, "colour": "red"}, "colour"),
    ]:
        response = client.post("/v1/sessions", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["param"] == param


def test_a_pair_without_engines_is_refused_naming_what_is_missing(identity: Identity) -> None:
    response = writer(identity).post(
        "/v1/sessions", json={**CREATE, "source_language": "ja", "target_language": "fr"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("unsupported_language_pair", None)
    assert "(ja)" in error["message"] and "French (fr)" in error["message"]
