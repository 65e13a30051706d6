"""The one exception hierarchy of Kallglot.

Services raise these; the HTTP edge maps them once to the error envelope
``{"error": {"type", "code", "message", "param", "request_id"}}``.
"""

from __future__ import annotations


class KallglotError(Exception):
    """Base of every error that the API reports to a client."""

    status_code: int = 400
    error_type: str = "invalid_request_error"
    code: str = "invalid_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param
        self.retry_after = retry_after


class InvalidRequestError(KallglotError):
    """The request is well formed but cannot be carried out as asked."""


class ValidationFailedError(KallglotError):
    status_code = 422
    error_type = "validation_error"
    code = "invalid_field_value"


class AuthenticationError(KallglotError):
    status_code = 401
    error_type = "authentication_error"
    code = "authentication_required"


class PaymentRequiredError(KallglotError):
    status_code = 402
    error_type = "permission_error"
    code = "insufficient_api_credits"


class PermissionDeniedError(KallglotError):
    status_code = 403
    error_type = "permission_error"
    code = "insufficient_permissions"


class NotFoundError(KallglotError):
    status_code = 404
    error_type = "invalid_request_error"
    code = "resource_not_found"


class ConflictError(KallglotError):
    status_code = 409
    error_type = "invalid_request_error"
    code = "conflict"


class PayloadTooLargeError(KallglotError):
    status_code = 413
    error_type = "invalid_request_error"
    code = "payload_too_large"


class RateLimitedError(KallglotError):
    status_code = 429
    error_type = "rate_limit_error"
    code = "rate_limit_exceeded"


class UpstreamError(KallglotError):
    status_code = 502
    error_type = "api_error"
    code = "upstream_error"


class ServiceUnavailableError(KallglotError):
    status_code = 503
    error_type = "api_error"
    code = "service_unavailable"


class ConfigurationError(Exception):
    """A setting is missing or wrong; start-up stops with this message."""
