"""Telnyx through its official SDK: number search and orders, requirement groups, documents."""

from __future__ import annotations

import base64
from typing import Any, cast

import telnyx

from kallglot.core.errors import UpstreamError
from kallglot.telephony.carriers.base import (
    AvailableNumber,
    BundleSubmission,
    Carrier,
    OrderedNumber,
    SubmittedBundle,
)

_GROUP_STATES = {
    "unapproved": "draft",
    "pending-approval": "pending_review",
    "approved": "approved",
    "declined": "rejected",
    "expired": "expired",
}
_TIMEOUT_SECONDS = 15.0


class TelnyxCarrier(Carrier):
    name = "telnyx"

    def __init__(
        self, api_key: str, *, base_url: str | None = None, connection_id: str | None = None
    ) -> None:
        self._client = telnyx.Telnyx(
            api_key=api_key, base_url=base_url, timeout=_TIMEOUT_SECONDS, max_retries=0
        )
        self._connection_id = connection_id

    def search(
        self, country: str, number_type: str, *, contains: str | None = None, limit: int = 10
    ) -> list[AvailableNumber]:
        query: dict[str, Any] = {
            "country_code": country,
            "phone_number_type": number_type,
            "features": ["voice"],
            "limit": limit,
        }
        if contains:
            query["phone_number"] = {"contains": contains}
        try:
            found = self._client.available_phone_numbers.list(filter=query)  # type: ignore[arg-type]
        except telnyx.APIError as exc:
            raise _upstream(exc) from None
        numbers = []
        for item in found.data or []:
            cost = item.cost_information
            monthly = float(cost.monthly_cost) if cost and cost.monthly_cost else 0.0
            regions = item.region_information or []
            numbers.append(
                AvailableNumber(
                    e164=str(item.phone_number),
                    country=country,
                    number_type=number_type,
                    carrier=self.name,
                    locality=regions[0].region_name if regions else None,
                    monthly_price_cents=round(monthly * 100),
                    currency=(cost.currency if cost and cost.currency else "USD"),
                )
            )
        return numbers

    def order(self, e164: str, *, bundle_ref: str | None, voice_url: str) -> OrderedNumber:
        entry: dict[str, Any] = {"phone_number": e164}
        if bundle_ref:
            entry["requirement_group_id"] = bundle_ref
        kwargs: dict[str, Any] = {"phone_numbers": [entry]}
        if self._connection_id:
            # The voice URL lives on the TeXML application (the connection).
            kwargs["connection_id"] = self._connection_id
        try:
            order = self._client.number_orders.create(**kwargs)
        except telnyx.APIError as exc:
            raise _upstream(exc) from None
        if order.data is None or not order.data.id:
            raise UpstreamError("The carrier did not confirm the order.", code="carrier_error")
        # Telnyx addresses a number by its own id once the order completes; the number
        # itself is the stable reference (looked up for configuring and releasing).
        return OrderedNumber(e164=e164, carrier_ref=e164)

    def _number_id(self, e164: str) -> str | None:
        found: Any = self._client.phone_numbers.list(filter={"phone_number": e164})
        items = list(getattr(found, "data", None) or [])
        return str(items[0].id) if items and items[0].id else None

    def release(self, carrier_ref: str) -> None:
        try:
            number_id = self._number_id(carrier_ref)
            if number_id:
                self._client.phone_numbers.delete(number_id)
        except telnyx.APIError as exc:
            raise _upstream(exc) from None

    def configure_voice(self, carrier_ref: str, voice_url: str) -> None:
        if not self._connection_id:
            return
        try:
            number_id = self._number_id(carrier_ref)
            if number_id:
                self._client.phone_numbers.update(number_id, connection_id=self._connection_id)
        except telnyx.APIError as exc:
            raise _upstream(exc) from None

    def submit_bundle(self, submission: BundleSubmission) -> SubmittedBundle:
        """Upload documents, create the requirement group with its values, submit it."""
        try:
            document_ids: dict[str, str] = {}
            for document in submission.documents:
                uploaded = self._client.documents.upload_json(
                    document={
                        "file": base64.b64encode(document.content).decode(),
                        "filename": f"{document.document_type}.{_extension(document)}",
                    }
                )
                if uploaded.data and uploaded.data.id:
                    document_ids[document.document_type] = str(uploaded.data.id)
            requirements: Any = self._client.requirements.list(
                filter=cast(
                    Any,
                    {
                        "country_code": submission.country,
                        "phone_number_type": submission.number_type,
                        "action": "ordering",
                    },
                )
            )
            values = []
            for requirement in getattr(requirements, "data", None) or []:
                for item in requirement.requirement_types or []:
                    item_key = _key(str(item.name or ""))
                    value = document_ids.get(item_key) or _detail(submission.details, item_key)
                    if item.id and value:
                        values.append({"requirement_id": str(item.id), "field_value": value})
            group = self._client.requirement_groups.create(
                action="ordering",
                country_code=submission.country,
                phone_number_type=submission.number_type,  # type: ignore[arg-type]
                customer_reference=submission.reference,
                regulatory_requirements=cast(Any, values),
            )
            submitted = self._client.requirement_groups.submit_for_approval(str(group.id))
        except telnyx.APIError as exc:
            raise _upstream(exc) from None
        return SubmittedBundle(
            carrier_ref=str(group.id),
            status=_GROUP_STATES.get(str(submitted.status), "pending_review"),
        )

    def bundle_status(self, carrier_ref: str) -> tuple[str, str | None]:
        try:
            group = self._client.requirement_groups.retrieve(carrier_ref)
        except telnyx.APIError as exc:
            raise _upstream(exc) from None
        status = _GROUP_STATES.get(str(group.status), "pending_review")
        return status, ("declined by the carrier" if status == "rejected" else None)


def _key(name: str) -> str:
    return "_".join(name.lower().replace("-", " ").split())


def _detail(details: dict[str, Any], key: str) -> str | None:
    value = details.get(key)
    return str(value) if isinstance(value, str | int) else None


def _extension(document: Any) -> str:
    return {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}.get(
        document.content_type, "bin"
    )


def _upstream(exc: telnyx.APIError) -> UpstreamError:
    status = getattr(exc, "status_code", None)
    return UpstreamError(f"The carrier refused the request (HTTP {status}).", code="carrier_error")
