"""Points in time given by clients: a calendar date or a datetime that names its zone.

A naive datetime (``2026-01-01T10:00``) is ambiguous, since the server cannot know whose ten
o'clock is meant, so it is refused (422) instead of being guessed. A bare date
(``2026-01-01``) means its midnight in UTC. Every ``since``/``until`` query parameter and
every datetime in a request body uses :data:`Instant`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, WithJsonSchema

from kallglot.core.errors import ValidationFailedError

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
# Far enough from datetime's limits that a default window (30 days back) or a conversion to
# UTC never overflows; no record of ours lies outside.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def _midnight_utc(value: object) -> object:
    if isinstance(value, str) and _DATE_ONLY.fullmatch(value.strip()):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            return value  # pydantic reports the impossible date
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError("must lie between the years 1900 and 9998")
    return value


Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_midnight_utc),
    AfterValidator(_in_range),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "string", "format": "date"},
            ],
            "description": "a date (midnight UTC) or a datetime with its UTC offset",
        }
    ),
]


def check_window(
    since: datetime | None,
    until: datetime | None,
    *,
    since_param: str = "since",
) -> None:
    """Refuse a window that ends before it starts (422 naming ``since_param``)."""
    if since is not None and until is not None and since > until:
        raise ValidationFailedError(
            "The window ends before it starts.", code="invalid_window", param=since_param
        )
