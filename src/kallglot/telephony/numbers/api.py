"""Every router of the telephony business layer (numbers, KYC, routing, calls), for the app."""

from __future__ import annotations

from fastapi import APIRouter

from kallglot.telephony.calls.routes import router as calls_router
from kallglot.telephony.numbers.routes import router as numbers_router
from kallglot.telephony.routing.routes import router as routing_router

routers: list[APIRouter] = [numbers_router, routing_router, calls_router]
