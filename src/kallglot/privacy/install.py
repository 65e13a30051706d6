"""Installs privacy's processing policy on the realtime hub of an app."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.orm import Session

from kallglot.privacy.processing import excluded_sessions, session_processing_allowed
from kallglot.privacy.requests import Purpose


class PrivacyProcessing:
    """Parties' restrictions and objections, as ``realtime.limits.ProcessingPolicy``."""

    def recording_allowed(self, db: Session, organization_id: str, session_id: str) -> bool:
        return session_processing_allowed(db, organization_id, session_id, Purpose.RECORDING)

    def analytics_excluded(self, db: Session, organization_id: str) -> set[str]:
        return excluded_sessions(db, organization_id, Purpose.ANALYTICS)


def install(app: FastAPI) -> None:
    app.state.realtime.processing = PrivacyProcessing()
