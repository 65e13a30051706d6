"""Regulatory requirements per country x number type x end-user type.

From the carrier where its API offers them, else from ``data/regulatory/requirements.json``
(with its source and date). Unknown entries stay unknown: a number whose requirements are
unknown is treated as needing an approved bundle, never as needing none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from kallglot.core.errors import ValidationFailedError

DATA_FILE = Path(__file__).resolve().parents[4] / "data" / "regulatory" / "requirements.json"


@dataclass(frozen=True)
class Requirement:
    country: str
    number_type: str
    end_user_type: str
    status: str  # known | unknown
    bundle_required: bool | None
    fields: tuple[str, ...]
    documents: tuple[str, ...]
    notes: str
    source: str
    date: str

    @property
    def needs_bundle(self) -> bool:
        """Unknown counts as required: we never invent an exemption."""
        return self.bundle_required is not False


@cache
def _data() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return loaded


def countries() -> list[str]:
    return sorted(_data()["countries"])


def requirement(country: str, number_type: str, end_user_type: str) -> Requirement:
    entry = _data()["countries"].get(country.upper())
    if entry is None:
        raise ValidationFailedError(
            f"No regulatory data for country '{country[:2]}'.",
            code="country_unsupported",
            param="country",
        )
    rule = entry["number_types"].get(number_type, {}).get(end_user_type)
    if rule is None:
        raise ValidationFailedError(
            "Unknown number type or end-user type.",
            code="invalid_field_value",
            param="number_type",
        )
    return Requirement(
        country=country.upper(),
        number_type=number_type,
        end_user_type=end_user_type,
        status=rule["status"],
        bundle_required=rule["bundle_required"],
        fields=tuple(rule["fields"]),
        documents=tuple(rule["documents"]),
        notes=rule.get("notes", ""),
        source=entry["source"],
        date=entry["date"],
    )


def needs_bundle(country: str, number_type: str) -> bool:
    """Whether any end-user type needs a bundle for this number (both unknown → yes)."""
    return any(
        requirement(country, number_type, end_user).needs_bundle
        for end_user in ("business", "individual")
    )
