"""The HTTP edge: app factory, error envelope, idempotency, pagination."""
