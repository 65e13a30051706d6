"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from kallglot.core.errors import ServiceUnavailableError
from kallglot.http.deps import SessionFactory

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The process can serve: its database answers")
def readyz(sessions: SessionFactory) -> dict[str, str]:
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        raise ServiceUnavailableError(
            "The database is not reachable.", code="database_unavailable"
        ) from None
    return {"status": "ready"}
