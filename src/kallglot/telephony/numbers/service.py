"""Numbers: order (refused without an approved bundle where one is needed), configure, release."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kallglot.core.errors import ConflictError
from kallglot.core.ids import new_id
from kallglot.crypto import normalize_e164
from kallglot.telephony.carriers import Carrier
from kallglot.telephony.kyc.service import approved_bundle
from kallglot.telephony.numbers.models import NumberRental, PhoneNumber
from kallglot.telephony.numbers.regulatory import needs_bundle


def order(
    session: Session,
    organization_id: str,
    carrier: Carrier,
    *,
    e164: str,
    country: str,
    number_type: str,
    bundle_id: str | None,
    voice_url: str,
    monthly_price_cents: int,
    currency: str,
    now: datetime,
) -> PhoneNumber:
    """Order (or, on a SIP trunk, register) a number for the organization."""
    e164 = normalize_e164(e164)
    country = country.upper()
    bundle_ref = None
    bundle = None
    # A number on the customer's own trunk is regulated by the customer's carrier.
    if carrier.provisions and needs_bundle(country, number_type):
        bundle = approved_bundle(session, organization_id, bundle_id, country, number_type, now)
        bundle_ref = bundle.carrier_ref
    taken = session.scalar(
        select(PhoneNumber.id).where(PhoneNumber.e164 == e164, PhoneNumber.status == "active")
    )
    if taken is not None:
        raise ConflictError("That number is already in use.", code="number_in_use", param="e164")
    ordered = carrier.order(e164, bundle_ref=bundle_ref, voice_url=voice_url)
    number = PhoneNumber(
        id=new_id("num"),
        organization_id=organization_id,
        e164=ordered.e164,
        country=country,
        number_type=number_type,
        carrier=carrier.name,
        carrier_ref=ordered.carrier_ref,
        status="active",
        bundle_id=bundle.id if bundle else None,
        languages=[],
        monthly_price_cents=monthly_price_cents,
        currency=currency,
    )
    session.add(number)
    session.flush()
    record_rental(session, number, now)
    return number


def record_rental(session: Session, number: PhoneNumber, now: datetime) -> NumberRental:
    """One month of rental from ``now``, for billing."""
    rental = NumberRental(
        id=new_id("rent"),
        organization_id=number.organization_id,
        number_id=number.id,
        period_start=now,
        period_end=now + timedelta(days=30),
        amount_cents=number.monthly_price_cents,
        currency=number.currency,
    )
    session.add(rental)
    return rental


def release(carrier: Carrier, number: PhoneNumber, now: datetime) -> None:
    if number.status != "active":
        raise ConflictError("The number is already released.", code="number_released")
    if number.carrier_ref:
        carrier.release(number.carrier_ref)
    number.status = "released"
    number.released_at = now
    number.queue_id = None


def active_number(session: Session, e164: str) -> PhoneNumber | None:
    return session.scalar(
        select(PhoneNumber).where(
            PhoneNumber.e164 == normalize_e164(e164), PhoneNumber.status == "active"
        )
    )
