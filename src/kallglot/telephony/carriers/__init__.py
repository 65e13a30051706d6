"""Carriers behind one interface: ``twilio``, ``telnyx`` and the built-in ``sip_trunk``."""

from __future__ import annotations

from kallglot.core.errors import InvalidRequestError
from kallglot.core.settings import Settings
from kallglot.telephony.carriers.base import (
    END_USER_TYPES,
    NUMBER_TYPES,
    AvailableNumber,
    BundleDocument,
    BundleSubmission,
    Carrier,
    OrderedNumber,
    SubmittedBundle,
)
from kallglot.telephony.carriers.sip_trunk import SipTrunkCarrier

CARRIERS = ("twilio", "telnyx", "sip_trunk")


def carrier_from_settings(settings: Settings, name: str) -> Carrier:
    """The configured carrier ``name``; 400 ``carrier_not_configured`` without credentials."""
    if name == "sip_trunk":
        return SipTrunkCarrier()
    if name == "twilio" and settings.twilio_account_sid and settings.twilio_auth_token:
        from kallglot.telephony.carriers.twilio_carrier import TwilioCarrier

        return TwilioCarrier(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            base_url=settings.twilio_base_url,
        )
    if name == "telnyx" and settings.telnyx_api_key:
        from kallglot.telephony.carriers.telnyx_carrier import TelnyxCarrier

        return TelnyxCarrier(
            settings.telnyx_api_key.get_secret_value(),
            base_url=settings.telnyx_base_url,
            connection_id=settings.telnyx_connection_id,
        )
    raise InvalidRequestError(
        f"The carrier '{name}' is not configured.", code="carrier_not_configured", param="carrier"
    )


__all__ = [
    "CARRIERS",
    "END_USER_TYPES",
    "NUMBER_TYPES",
    "AvailableNumber",
    "BundleDocument",
    "BundleSubmission",
    "Carrier",
    "OrderedNumber",
    "SubmittedBundle",
    "carrier_from_settings",
]
