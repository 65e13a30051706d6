"""Starts and stops the calls domain inside the app: hub, webhook dispatcher, idle sweeper."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from kallglot.core.outbound import OutboundPolicy
from kallglot.core.settings import Settings
from kallglot.crypto import EncryptedBlobStore
from kallglot.realtime.admission import Admission
from kallglot.realtime.engines import SpeechEngines
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.webhooks import WebhookDispatcher
from kallglot.scale.bus import event_bus
from kallglot.scale.outbox import LocalQueue
from kallglot.speech import registry as speech_registry


def install(
    app: FastAPI, settings: Settings, sessions: sessionmaker[Session], engines: SpeechEngines
) -> None:
    blobs = EncryptedBlobStore.from_settings(settings)
    app.state.outbound_policy = OutboundPolicy.from_settings(settings)
    app.state.realtime = RealtimeHub(
        sessions,
        engines,
        event_bus(settings),
        Admission(settings.max_concurrent_calls),
        settings.call_idle_timeout,
        blobs,
        LocalQueue(settings.effective_call_write_queue, blobs.keyring.wrapper),
        timedelta(seconds=settings.call_abandon_seconds),
    )


@contextlib.asynccontextmanager
async def running(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    hub: RealtimeHub = app.state.realtime
    await asyncio.to_thread(hub.engines.warm_up)
    policy: OutboundPolicy = app.state.outbound_policy
    async with WebhookDispatcher(
        hub.sessions, policy, settings.webhook_timeout_seconds
    ) as dispatcher:
        tasks = [
            asyncio.create_task(dispatcher.run(), name="webhook-dispatcher"),
            asyncio.create_task(hub.run_sweeper(), name="idle-session-sweeper"),
            asyncio.create_task(
                hub.run_limits(settings.billing_limit_check_seconds), name="session-limits"
            ),
            asyncio.create_task(
                hub.writes.run(settings.call_write_retry_seconds), name="call-write-replay"
            ),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await hub.shutdown()
            speech_registry.close_all()
