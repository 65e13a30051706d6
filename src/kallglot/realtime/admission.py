"""Admission control: a node takes only the calls it can translate at the latency target.

Model work itself runs in the speech domain's bounded executor (sized for the
machine, first come first served; each stream keeps at most one partial decode
in flight, so no call can flood it). What this adds is the refusal: when every
slot is taken, a new call gets ``capacity_exceeded`` instead of every call
degrading together.
"""

from __future__ import annotations

import threading

from kallglot.core.errors import ServiceUnavailableError


class Admission:
    def __init__(self, max_calls: int) -> None:
        self.max_calls = max_calls
        self._live: set[str] = set()
        self._lock = threading.Lock()

    def admit(self, call_id: str) -> None:
        """Reserve a slot for a call (idempotent), or refuse with 503 ``capacity_exceeded``."""
        with self._lock:
            if call_id not in self._live:
                self._check_room()
                self._live.add(call_id)

    def check_room(self) -> None:
        """Refuse early (at session creation) when no slot is free."""
        with self._lock:
            self._check_room()

    def _check_room(self) -> None:
        if len(self._live) >= self.max_calls:
            raise ServiceUnavailableError(
                "This node is translating as many calls as it can; try again shortly.",
                code="capacity_exceeded",
                retry_after=5,
            )

    def release(self, call_id: str) -> None:
        with self._lock:
            self._live.discard(call_id)

    @property
    def live_calls(self) -> int:
        return len(self._live)
