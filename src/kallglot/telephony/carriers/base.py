"""The one interface every carrier implements, and the values it speaks in."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

NUMBER_TYPES = ("local", "national", "mobile", "toll_free")
END_USER_TYPES = ("individual", "business")


@dataclass(frozen=True)
class AvailableNumber:
    e164: str
    country: str
    number_type: str
    carrier: str
    locality: str | None = None
    monthly_price_cents: int = 0
    currency: str = "EUR"


@dataclass(frozen=True)
class OrderedNumber:
    e164: str
    carrier_ref: str


@dataclass(frozen=True)
class BundleDocument:
    document_type: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class BundleSubmission:
    reference: str
    country: str
    number_type: str
    end_user_type: str
    details: dict[str, Any]
    documents: list[BundleDocument] = field(default_factory=list)
    contact_email: str = "compliance@kallglot.invalid"


@dataclass(frozen=True)
class SubmittedBundle:
    carrier_ref: str
    status: str  # our states: pending_review, approved, rejected


class Carrier(ABC):
    """Search, order, release and configure numbers; submit regulatory bundles."""

    name: str
    #: False for carriers without a provisioning API (numbers are registered by an admin).
    provisions: bool = True

    @abstractmethod
    def search(
        self, country: str, number_type: str, *, contains: str | None = None, limit: int = 10
    ) -> list[AvailableNumber]: ...

    @abstractmethod
    def order(self, e164: str, *, bundle_ref: str | None, voice_url: str) -> OrderedNumber: ...

    @abstractmethod
    def release(self, carrier_ref: str) -> None: ...

    @abstractmethod
    def configure_voice(self, carrier_ref: str, voice_url: str) -> None: ...

    @abstractmethod
    def submit_bundle(self, submission: BundleSubmission) -> SubmittedBundle: ...

    @abstractmethod
    def bundle_status(self, carrier_ref: str) -> tuple[str, str | None]:
        """Our state of the bundle (``pending_review|approved|rejected|expired``), and a reason."""

    def requirements(
        self, country: str, number_type: str, end_user_type: str
    ) -> dict[str, Any] | None:
        """The carrier's own requirements, where its API offers them; ``None`` otherwise."""
        return None
