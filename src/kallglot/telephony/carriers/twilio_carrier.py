"""Twilio through its official SDK: IncomingPhoneNumbers and Regulatory Compliance v2."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from kallglot.core.errors import UpstreamError
from kallglot.telephony.carriers.base import (
    AvailableNumber,
    BundleSubmission,
    Carrier,
    OrderedNumber,
    SubmittedBundle,
)

# Twilio's bundle states -> ours.
_BUNDLE_STATES = {
    "draft": "draft",
    "pending-review": "pending_review",
    "in-review": "pending_review",
    "twilio-approved": "approved",
    "provisionally-approved": "approved",
    "twilio-rejected": "rejected",
}
_TIMEOUT_SECONDS = 15.0


class _BaseUrlHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Sends every request to ``base_url`` instead of Twilio's hosts (a proxy, or a test server).

    Twilio's products live on separate hosts (api., numbers.) but their paths never collide
    (``/2010-04-01/…``, ``/v2/RegulatoryCompliance/…``), so one base URL serves them all.
    """

    def __init__(self, base_url: str | None) -> None:
        super().__init__(timeout=_TIMEOUT_SECONDS)
        self._base = base_url.rstrip("/") if base_url else None

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if self._base is not None:
            parts = urlsplit(url)
            url = f"{self._base}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        return super().request(
            method, url, params, data, headers, auth, timeout or _TIMEOUT_SECONDS, allow_redirects
        )


class TwilioCarrier(Carrier):
    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        base_url: str | None = None,
        status_callback: str | None = None,
    ) -> None:
        self._client = Client(account_sid, auth_token, http_client=_BaseUrlHttpClient(base_url))
        self._status_callback = status_callback

    def search(
        self, country: str, number_type: str, *, contains: str | None = None, limit: int = 10
    ) -> list[AvailableNumber]:
        country_numbers = self._client.api.v2010.account.available_phone_numbers(country)
        listing: Any = {
            "local": country_numbers.local,
            "national": country_numbers.national,
            "mobile": country_numbers.mobile,
            "toll_free": country_numbers.toll_free,
        }[number_type]
        kwargs: dict[str, Any] = {"voice_enabled": True, "limit": limit}
        if contains:
            kwargs["contains"] = contains
        try:
            found = listing.list(**kwargs)
        except TwilioException as exc:
            raise _upstream(exc) from None
        return [
            AvailableNumber(
                e164=item.phone_number,
                country=country,
                number_type=number_type,
                carrier=self.name,
                locality=item.locality,
            )
            for item in found
        ]

    def order(self, e164: str, *, bundle_ref: str | None, voice_url: str) -> OrderedNumber:
        kwargs: dict[str, Any] = {"phone_number": e164, "voice_url": voice_url}
        if bundle_ref:
            kwargs["bundle_sid"] = bundle_ref
        try:
            number = self._client.api.v2010.account.incoming_phone_numbers.create(**kwargs)
        except TwilioException as exc:
            raise _upstream(exc) from None
        return OrderedNumber(e164=number.phone_number or e164, carrier_ref=str(number.sid))

    def release(self, carrier_ref: str) -> None:
        try:
            self._client.api.v2010.account.incoming_phone_numbers(carrier_ref).delete()
        except TwilioException as exc:
            raise _upstream(exc) from None

    def configure_voice(self, carrier_ref: str, voice_url: str) -> None:
        try:
            self._client.api.v2010.account.incoming_phone_numbers(carrier_ref).update(
                voice_url=voice_url, voice_method="POST"
            )
        except TwilioException as exc:
            raise _upstream(exc) from None

    def submit_bundle(self, submission: BundleSubmission) -> SubmittedBundle:
        """End-user and supporting documents, a bundle, their item assignments, an evaluation,
        then the bundle goes to review."""
        compliance = self._client.numbers.v2.regulatory_compliance
        try:
            end_user = compliance.end_users.create(
                friendly_name=submission.reference,
                type=submission.end_user_type,
                attributes=_end_user_attributes(submission.details),
            )
            documents = [
                compliance.supporting_documents.create(
                    friendly_name=f"{submission.reference}-{document.document_type}",
                    type=document.document_type,
                    attributes={"document_type": document.document_type},
                )
                for document in submission.documents
            ]
            create: dict[str, Any] = {
                "friendly_name": submission.reference,
                "email": submission.contact_email,
                "iso_country": submission.country,
                "number_type": submission.number_type.replace("_", "-"),
                "end_user_type": submission.end_user_type,
            }
            if self._status_callback:
                create["status_callback"] = self._status_callback
            bundle = compliance.bundles.create(**create)
            assignments = compliance.bundles(str(bundle.sid)).item_assignments
            for item in [end_user, *documents]:
                assignments.create(object_sid=str(item.sid))
            evaluation = compliance.bundles(str(bundle.sid)).evaluations.create()
            if evaluation.status == "noncompliant":
                return SubmittedBundle(carrier_ref=str(bundle.sid), status="rejected")
            updated = compliance.bundles(str(bundle.sid)).update(status="pending-review")
        except TwilioException as exc:
            raise _upstream(exc) from None
        status = _BUNDLE_STATES.get(str(updated.status), "pending_review")
        return SubmittedBundle(carrier_ref=str(bundle.sid), status=status)

    def bundle_status(self, carrier_ref: str) -> tuple[str, str | None]:
        try:
            bundle = self._client.numbers.v2.regulatory_compliance.bundles(carrier_ref).fetch()
        except TwilioException as exc:
            raise _upstream(exc) from None
        status = _BUNDLE_STATES.get(str(bundle.status), "pending_review")
        reason = "rejected by the carrier" if status == "rejected" else None
        return status, reason

    def requirements(
        self, country: str, number_type: str, end_user_type: str
    ) -> dict[str, Any] | None:
        try:
            regulations = self._client.numbers.v2.regulatory_compliance.regulations.list(
                iso_country=country,
                number_type=number_type.replace("_", "-"),
                end_user_type=end_user_type,
                limit=5,
            )
        except TwilioException as exc:
            raise _upstream(exc) from None
        if not regulations:
            return None
        regulation = regulations[0]
        return {"source": "twilio", "regulation": regulation.sid, **(regulation.requirements or {})}


def _end_user_attributes(details: dict[str, Any]) -> dict[str, Any]:
    address = details.get("address") or {}
    attributes = {
        "business_name": details.get("company_name"),
        "business_registration_number": details.get("registration_number"),
        "business_tax_id": details.get("tax_id"),
        "business_address": json.dumps(address) if address else None,
        "business_industry": details.get("industry"),
        "business_size": details.get("company_size"),
        "first_name": (details.get("representative") or {}).get("first_name"),
        "last_name": (details.get("representative") or {}).get("last_name"),
        "email": (details.get("representative") or {}).get("email"),
    }
    return {key: value for key, value in attributes.items() if value}


def _upstream(exc: TwilioException) -> UpstreamError:
    # The SDK's message may echo request data; only the status travels on.
    status = getattr(exc, "status", None)
    return UpstreamError(f"The carrier refused the request (HTTP {status}).", code="carrier_error")
