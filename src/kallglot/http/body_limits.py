"""How a route asks for a larger request body than the app's default limit.

A route that takes larger bodies (an upload) names, in its OpenAPI operation, the setting
that bounds them: the limit is published with the schema and found by the request middleware
(:mod:`kallglot.api.middleware`) before routing, as middleware below it (idempotency) reads
the body before any route is chosen.
"""

from __future__ import annotations

from typing import Any

from kallglot.core.settings import Settings

__all__ = ["BODY_LIMIT_EXTENSION", "larger_body"]

BODY_LIMIT_EXTENSION = "x-max-body-bytes-setting"


def larger_body(setting: str) -> dict[str, Any]:
    """``openapi_extra`` of an upload route whose bodies ``Settings.<setting>`` bounds."""
    if setting not in Settings.model_fields:
        raise ValueError(f"no setting {setting!r}")
    return {BODY_LIMIT_EXTENSION: setting}
