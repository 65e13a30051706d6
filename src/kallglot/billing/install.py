"""Installs billing's session policy on the realtime hub of an app."""

from __future__ import annotations

from fastapi import FastAPI

from kallglot.billing.metering import BillingPolicy
from kallglot.core.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    app.state.realtime.policy = BillingPolicy(settings)
