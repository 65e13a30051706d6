"""Request and response bodies of numbers, regulatory requirements and KYC bundles."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from kallglot.core.schemas import RequestModel, ResponseModel

NumberType = Literal["local", "national", "mobile", "toll_free"]
EndUserType = Literal["individual", "business"]
CarrierName = Literal["twilio", "telnyx", "sip_trunk"]
Country = Field(pattern=r"^[A-Za-z]{2}$")
Language = str


class AvailableNumberOut(BaseModel):
    e164: str
    country: str
    number_type: str
    carrier: str
    locality: str | None
    monthly_price_cents: int
    currency: str


class NumberSearchIn(RequestModel):
    country: str = Country
    number_type: NumberType = "local"
    contains: str | None = Field(default=None, max_length=16, pattern=r"^[0-9*]+$")
    carrier: CarrierName | None = None


class NumberOrderIn(RequestModel):
    e164: str = Field(min_length=5, max_length=32, pattern=r"^[+0-9 ()./-]+$")
    country: str = Country
    number_type: NumberType
    carrier: CarrierName | None = None
    bundle_id: str | None = Field(default=None, max_length=40, pattern=r"^kyb_[0-9A-Z]+$")
    monthly_price_cents: int = Field(default=0, ge=0, le=1_000_000)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")


class NumberUpdateIn(RequestModel):
    queue_id: str | None = Field(default=None, max_length=40, pattern=r"^que_[0-9A-Z]+$")
    # Expected caller languages (ISO 639-1); empty means auto-detect.
    languages: list[str] | None = Field(default=None, max_length=10)


class NumberOut(ResponseModel):
    id: str
    object: str = "phone_number"
    e164: str
    country: str
    number_type: str
    carrier: str
    status: str
    queue_id: str | None
    bundle_id: str | None
    languages: list[str]
    auto_detect_language: bool = False
    monthly_price_cents: int
    currency: str
    created_at: datetime
    released_at: datetime | None


class RequirementOut(BaseModel):
    country: str
    number_type: str
    end_user_type: str
    status: str
    bundle_required: bool | None
    fields: list[str]
    documents: list[str]
    notes: str
    source: str
    date: str


class Address(RequestModel):
    street: str = Field(max_length=200)
    city: str = Field(max_length=100)
    postal_code: str = Field(max_length=20)
    region: str | None = Field(default=None, max_length=100)
    country: str = Country


class Representative(RequestModel):
    first_name: str = Field(max_length=100)
    last_name: str = Field(max_length=100)
    email: str = Field(max_length=254)
    role: str | None = Field(default=None, max_length=100)


class KycDetails(RequestModel):
    company_name: str | None = Field(default=None, max_length=200)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    address: Address | None = None
    tax_id: str | None = Field(default=None, max_length=40)
    registration_number: str | None = Field(default=None, max_length=60)
    representative: Representative | None = None
    industry: str | None = Field(default=None, max_length=100)
    company_size: Literal["1-10", "11-50", "51-200", "201-1000", "1000+"] | None = None


class BundleIn(RequestModel):
    country: str = Country
    number_type: NumberType
    end_user_type: EndUserType
    carrier: CarrierName | None = None
    details: KycDetails = Field(default_factory=KycDetails)


class BundleUpdateIn(RequestModel):
    details: KycDetails


class DocumentOut(ResponseModel):
    id: str
    object: str = "kyc_document"
    document_type: str
    content_type: str
    size_bytes: int
    created_at: datetime


class BundleOut(ResponseModel):
    id: str
    object: str = "kyc_bundle"
    country: str
    number_type: str
    end_user_type: str
    carrier: str
    status: str
    rejection_reason: str | None
    submitted_at: datetime | None
    decided_at: datetime | None
    expires_at: datetime | None
    created_at: datetime
    missing: list[str] = []
    documents: list[DocumentOut] = []
