"""Helpers shared by several test modules."""

from __future__ import annotations

DETAILS = {
    "company_name": "Acme Dolmetscher GmbH",
    "address": {
        "street": "Unter den Linden 1",
        "city": "Berlin",
        "postal_code": "10117",
        "country": "DE",
    },
    "tax_id": "DE123456789",
    "registration_number": "HRB 12345",
    "representative": {"first_name": "Erika", "last_name": "Muster", "email": "e@acme.example"},
    "industry": "translation",
    "company_size": "11-50",
}
