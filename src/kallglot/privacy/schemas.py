"""Request and response bodies of the privacy routes (``/v1/privacy/...``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import EmailStr, Field

from kallglot.core.schemas import RequestModel, ResponseModel
from kallglot.privacy.legal import Decision
from kallglot.privacy.models import LegalHold
from kallglot.privacy.requests import Purpose, RequestType
from kallglot.privacy.retention import EffectiveRetention

# No control characters in free text (PostgreSQL refuses NUL; the rest has no business here);
# multi-line text keeps tab and line breaks.
LINE = r"^[^\x00-\x1f\x7f]*$"
LINES = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


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
    reason: str = Field(min_length=1, max_length=500, pattern=LINES)
    object_type: str | None = Field(default=None, max_length=40, examples=["call"], pattern=LINE)
    object_ref: str | None = Field(default=None, max_length=64, pattern=LINE)


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


class SubjectRequestCreate(RequestModel):
    """Name the subject by exactly one of ``user_id``, ``email``, ``phone``."""

    type: RequestType
    user_id: str | None = Field(default=None, max_length=40)
    email: EmailStr | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40, pattern=LINE)


class OwnRequestCreate(RequestModel):
    """A signed-in user's request about themselves; the password re-authenticates them."""

    type: RequestType
    password: str = Field(min_length=1, max_length=200)


class SubjectRequestOut(ResponseModel):
    object: Literal["privacy_request"] = "privacy_request"
    id: str
    type: str
    status: str
    subject_kind: str
    subject_user_id: str | None
    received_at: datetime
    due_at: datetime
    extension_reason: str | None
    verified_at: datetime | None
    verification_method: str | None
    progress: int
    completed_at: datetime | None
    rejection_reason: str | None
    outcome: dict[str, Any] | None


class CodeCheck(RequestModel):
    code: str = Field(pattern=r"^[0-9]{6}$")


class Attestation(RequestModel):
    note: str = Field(min_length=1, max_length=500, pattern=LINES)


class Extension(RequestModel):
    months: int = Field(ge=1, le=2)
    reason: str = Field(min_length=1, max_length=500, pattern=LINES)


class Rejection(RequestModel):
    reason: str = Field(min_length=1, max_length=500, pattern=LINES)


class Execution(RequestModel):
    """What to do for the request's type: purposes (objection), corrections (rectification)."""

    purposes: list[Purpose] | None = None
    account: dict[str, str | None] | None = None
    transcript_turns: dict[str, str] | None = None


class DownloadLink(ResponseModel):
    object: Literal["download_link"] = "download_link"
    url: str
    expires_at: datetime


class LegalRequestCreate(RequestModel):
    authority: str = Field(min_length=1, max_length=200, pattern=LINE)
    legal_basis: str = Field(min_length=1, max_length=300, pattern=LINE)
    scope: str = Field(min_length=1, max_length=5000, pattern=LINES)


class LegalDecision(RequestModel):
    decision: Decision
    disclosed: str | None = Field(default=None, max_length=5000, pattern=LINES)
    pushback: str | None = Field(default=None, max_length=5000, pattern=LINES)


class LegalRequestOut(ResponseModel):
    object: Literal["legal_request"] = "legal_request"
    id: str
    authority: str
    legal_basis: str
    received_at: datetime
    decision: str
    decided_at: datetime | None
    decided_by: str | None
    scope: str
    disclosed: str | None
    pushback: str | None


class SubProcessorOut(ResponseModel):
    name: str
    purpose: str
    location: str
    data_categories: list[str]
    dpa_url: str
    effective_at: datetime


class SubProcessorList(ResponseModel):
    object: Literal["subprocessor_list"] = "subprocessor_list"
    version: str
    data: list[SubProcessorOut]
