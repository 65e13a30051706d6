"""Helpers shared by several test modules."""

from __future__ import annotations

GOOD_PASSWORD = "correct horse battery staple 42"


def signup_body(
    email: str = "founder@example.com", password: str = GOOD_PASSWORD
) -> dict[str, object]:
    return {
        "organization": {"name": "Acme Interpreting", "country": "DE", "vat_id": "DE123456789"},
        "name": "Frieda Founder",
        "email": email,
        "password": password,
        "phone_number": "+4930123456",
    }
