"""Request and response bodies for the retention routes (added once identity's permissions land)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from kallglot.core.schemas import RequestModel, ResponseModel
from kallglot.privacy.models import LegalHold
from kallglot.privacy.retention import EffectiveRetention


class RetentionClassPolicy(ResponseModel):
    object: Literal["retention_policy"] = "retention_policy"
    retention_class: str
    description: str
    basis: str
    days: int | None
    default_days: int | None
    min_days: int | None
    max_days: int | None
    overridden: bool

    @classmethod
    def of(cls, policy: EffectiveRetention) -> RetentionClassPolicy:
        retention_class = policy.retention_class
        return cls(
            retention_class=retention_class.name,
            description=retention_class.description,
            basis=retention_class.basis.value,
            days=policy.days,
            default_days=retention_class.default_days,
            min_days=retention_class.min_days,
            max_days=retention_class.max_days,
            overridden=policy.overridden,
        )


class RetentionOverrideRequest(RequestModel):
    days: int = Field(gt=0, description="retention period in days, within the class's bounds")


class LegalHoldRequest(RequestModel):
    reason: str = Field(min_length=1, max_length=500)
    object_type: str | None = Field(default=None, max_length=40, examples=["call"])
    object_ref: str | None = Field(default=None, max_length=64)


class LegalHoldResponse(ResponseModel):
    object: Literal["legal_hold"] = "legal_hold"
    id: str
    organization_id: str
    object_type: str | None
    object_ref: str | None
    reason: str
    placed_by: str | None
    created_at: datetime
    released_at: datetime | None
    released_by: str | None

    @classmethod
    def of(cls, hold: LegalHold) -> LegalHoldResponse:
        return cls.model_validate(hold)
