"""Sessions in the database: lifecycle, isolation, stream tokens, idle timeout, webhooks outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from kallglot.core.clock import utcnow
from kallglot.core.errors import AuthenticationError, ConflictError, NotFoundError
from kallglot.realtime import service, webhooks
from kallglot.realtime.models import SessionTransition
from kallglot.realtime.schemas import CreateSession
from kallglot.realtime.state import SessionStatus
from kallglot.realtime.webhooks import WebhookDelivery, WebhookEvent
from tests.conftest import MigratedDatabase

TTL = timedelta(minutes=5)


def create(database: MigratedDatabase, organization_id: str) -> tuple[str, str]:
    with database.sessions.begin() as db:
        call, grant = service.create_session(
            db,
            organization_id,
            CreateSession(mode="bidirectional_translation", source_language="es"),  # type: ignore[arg-type]
            TTL,
        )
    return call.id, grant.token


def test_every_transition_is_recorded(database: MigratedDatabase, organization_id: str) -> None:
    call_id, _ = create(database, organization_id)
    with database.sessions.begin() as db:
        call = service.get_session(db, organization_id, call_id)
        service.transition(db, call, SessionStatus.CONNECTING, "connected")
        service.transition(db, call, SessionStatus.ACTIVE, "audio_started")
        service.finish(db, call, "completed")
        service.finish(db, call, "completed")  # idempotent
        with pytest.raises(ConflictError):
            service.transition(db, call, SessionStatus.ACTIVE)
    with database.sessions() as db:
        steps = db.scalars(
            select(SessionTransition.to_status)
            .where(SessionTransition.session_id == call_id)
            .order_by(SessionTransition.at, SessionTransition.id)
        ).all()
        call = service.get_session(db, organization_id, call_id)
    assert steps == ["created", "connecting", "active", "ending", "ended"]
    assert call.started_at is not None
    assert call.ended_at is not None
    assert call.end_reason == "completed"


def test_another_organizations_session_is_not_found(
    database: MigratedDatabase, organization_id: str, other_organization_id: str
) -> None:
    call_id, _ = create(database, organization_id)
    with database.sessions() as db, pytest.raises(NotFoundError):
        service.get_session(db, other_organization_id, call_id)


def test_stream_token_is_checked_and_expires(
    database: MigratedDatabase, organization_id: str
) -> None:
    call_id, token = create(database, organization_id)
    with database.sessions() as db:
        assert service.authenticate_stream(db, call_id, token).id == call_id
        with pytest.raises(AuthenticationError) as wrong:
            service.authenticate_stream(db, call_id, token + "x")
        assert wrong.value.code == "invalid_token"
    with time_machine.travel(utcnow() + TTL + timedelta(seconds=1)), database.sessions() as db:
        with pytest.raises(AuthenticationError) as late:
            service.authenticate_stream(db, call_id, token)
        assert late.value.code == "expired_token"


def test_idle_sessions_are_found_after_the_timeout(
    database: MigratedDatabase, organization_id: str
) -> None:
    call_id, _ = create(database, organization_id)
    with database.sessions() as db:
        assert service.idle_sessions(db, timedelta(minutes=30)) == []
    with time_machine.travel(utcnow() + timedelta(minutes=31)), database.sessions() as db:
        assert [call.id for call in service.idle_sessions(db, timedelta(minutes=30))] == [call_id]


def test_events_go_to_the_outbox_of_subscribed_endpoints_only(
    database: MigratedDatabase, organization_id: str
) -> None:
    with database.sessions.begin() as db:
        wanted, _secret = webhooks.create_endpoint(
            db, organization_id, "http://127.0.0.1:9/hook", ["session.ended"]
        )
    call_id, _ = create(database, organization_id)
    with database.sessions.begin() as db:
        service.finish(db, service.get_session(db, organization_id, call_id), "completed")
    with database.sessions() as db:
        events = db.scalars(select(WebhookEvent.type)).all()
        deliveries = db.scalars(select(WebhookDelivery)).all()
    assert events == ["session.ended"]
    assert [d.endpoint_id for d in deliveries] == [wanted.id]
