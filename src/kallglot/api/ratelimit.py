"""Rate limits and API credit headers on every authenticated request.

Each request with a live credential counts against two budgets of its plan
(``Settings.plan_limits``): its credential's (API key or signed-in member) and its
organization's, per minute. The counters are fixed one-minute windows (aligned to the
Unix clock, so every node agrees on ``X-RateLimit-Reset``) in the shared state: in process
when embedded, Redis with several nodes, so that all nodes spend one budget. Redis being
down is a 503, never an unlimited API.

Every authenticated response carries ``X-RateLimit-Limit/Remaining/Reset`` (of the budget
closer to running out) and ``X-API-Credits-Remaining/Used`` (:mod:`kallglot.api.credits`);
past the limit the answer is 429 ``rate_limit_exceeded`` with ``Retry-After`` and
``retry_after``. Requests without a live credential are left to the routes (401) and to the
login throttle.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kallglot.api.caller import Caller, caller_of
from kallglot.api.credits import CreditBalance, balance, limits_for
from kallglot.api.errors import error_body, send_json
from kallglot.core.errors import KallglotError
from kallglot.core.settings import Settings
from kallglot.infra.shared_state import SharedState

WINDOW_SECONDS = 60
# Where a route that spends a credit leaves the new balance (``request.state.api_credits``).
CREDITS_STATE_KEY = "api_credits"


@dataclass(frozen=True)
class Budget:
    limit: int
    remaining: int
    reset_at: int
    exceeded: bool
    credits: CreditBalance

    def rate_headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset_at).encode()),
        ]


def credit_headers(credits: CreditBalance) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-api-credits-remaining", str(credits.remaining).encode()),
        (b"x-api-credits-used", str(credits.used).encode()),
    ]


def spend(
    sessions: sessionmaker[Session], settings: Settings, state: SharedState, caller: Caller
) -> Budget:
    """Count this request against the caller's budgets; blocks (run it in a thread)."""
    with sessions() as db:
        limits = limits_for(db, settings, caller.organization_id)
        credits = balance(db, settings, caller.organization_id)
    now = time.time()
    window = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
    ttl = 2 * WINDOW_SECONDS  # outlives its window on clocks a little apart
    budgets = [
        (
            limits.requests_per_minute_per_key,
            state.increment(f"ratelimit:{caller.credential}:{window}", ttl),
        ),
        (
            limits.requests_per_minute_per_organization,
            state.increment(f"ratelimit:org:{caller.organization_id}:{window}", ttl),
        ),
    ]
    limit, count = min(budgets, key=lambda budget: budget[0] - budget[1])
    return Budget(
        limit=limit,
        remaining=max(0, limit - count),
        reset_at=window + WINDOW_SECONDS,
        exceeded=any(count > allowed for allowed, count in budgets),
        credits=credits,
    )


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = await caller_of(scope) if scope["type"] == "http" else None
        if caller is None:
            await self.app(scope, receive, send)
            return
        app_state = scope["app"].state
        try:
            budget = await anyio.to_thread.run_sync(
                spend, app_state.sessions, app_state.settings, app_state.shared_state, caller
            )
        except KallglotError as exc:  # the shared state is down: refuse, never run unlimited
            retry = [(b"retry-after", str(exc.retry_after).encode())] if exc.retry_after else None
            await send_json(
                send, exc.status_code, error_body(exc.error_type, exc.code, exc.message), retry
            )
            return
        if budget.exceeded:
            retry_after = max(1, math.ceil(budget.reset_at - time.time()))
            await send_json(
                send,
                429,
                error_body(
                    "rate_limit_error",
                    "rate_limit_exceeded",
                    f"Rate limit of {budget.limit} requests per minute reached; "
                    f"retry after {retry_after} s.",
                    retry_after=retry_after,
                ),
                [
                    *budget.rate_headers(),
                    *credit_headers(budget.credits),
                    (b"retry-after", str(retry_after).encode()),
                ],
            )
            return
        request_state = scope.setdefault("state", {})

        async def send_with_budget(message: Message) -> None:
            if message["type"] == "http.response.start":
                credits = request_state.get(CREDITS_STATE_KEY, budget.credits)
                message["headers"] = [
                    *message.get("headers", []),
                    *budget.rate_headers(),
                    *credit_headers(credits),
                ]
            await send(message)

        await self.app(scope, receive, send_with_budget)
