"""Billing: usage metering, Stripe, credits and limits, enterprise invoices, org analytics."""
