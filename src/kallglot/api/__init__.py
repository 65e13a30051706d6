"""The HTTP edge: app factory, error envelope, idempotency, rate limits, middleware."""
