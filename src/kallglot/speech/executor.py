"""The bounded pool where speech models run, off the event loop.

Two cores: two worker threads by default (``KALLGLOT_SPEECH_WORKERS``). The native
engines release the GIL, so a thread pool is enough; a queue in front of it keeps
calls in arrival order.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from kallglot.core.settings import get_settings

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def speech_executor() -> ThreadPoolExecutor:
    """The process-wide pool (created on first use)."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=get_settings().speech_workers, thread_name_prefix="speech"
            )
        return _executor


async def run_blocking(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``func`` in the speech pool and await its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(speech_executor(), functools.partial(func, *args, **kwargs))


def shutdown() -> None:
    """Stop the pool (tests and process exit)."""
    global _executor
    with _lock:
        if _executor is not None:
            _executor.shutdown(wait=True, cancel_futures=True)
            _executor = None
