"""Numbers a customer brings over their own SIP trunk: no provisioning API at all."""

from __future__ import annotations

from kallglot.core.errors import InvalidRequestError
from kallglot.telephony.carriers.base import (
    AvailableNumber,
    BundleSubmission,
    Carrier,
    OrderedNumber,
    SubmittedBundle,
)


class SipTrunkCarrier(Carrier):
    """An admin registers the number; calls arrive by SIP; the customer's carrier regulates it."""

    name = "sip_trunk"
    provisions = False

    def search(
        self, country: str, number_type: str, *, contains: str | None = None, limit: int = 10
    ) -> list[AvailableNumber]:
        return []

    def order(self, e164: str, *, bundle_ref: str | None, voice_url: str) -> OrderedNumber:
        # Registering: the number is already the customer's; calls reach us at sip:…@our domain.
        return OrderedNumber(e164=e164, carrier_ref=f"sip:{e164}")

    def release(self, carrier_ref: str) -> None:
        return None

    def configure_voice(self, carrier_ref: str, voice_url: str) -> None:
        return None

    def submit_bundle(self, submission: BundleSubmission) -> SubmittedBundle:
        raise InvalidRequestError(
            "Numbers on your own SIP trunk are verified by your own carrier.",
            code="carrier_has_no_bundles",
            param="carrier",
        )

    def bundle_status(self, carrier_ref: str) -> tuple[str, str | None]:
        raise InvalidRequestError("No bundles on a SIP trunk.", code="carrier_has_no_bundles")
