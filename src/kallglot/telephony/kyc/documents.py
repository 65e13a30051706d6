"""Checking an uploaded document by its content, never by its name."""

from __future__ import annotations

import filetype

from kallglot.core.errors import PayloadTooLargeError, ValidationFailedError

ALLOWED_TYPES = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


def check_document(content: bytes, max_bytes: int) -> str:
    """The content type of ``content`` if it is a PDF, JPEG or PNG within ``max_bytes``."""
    if len(content) > max_bytes:
        raise PayloadTooLargeError(
            f"Documents may be at most {max_bytes} bytes.", code="document_too_large"
        )
    if not content:
        raise ValidationFailedError("The document is empty.", code="document_empty")
    kind = filetype.guess(content)
    if kind is None or kind.mime not in ALLOWED_TYPES:
        raise ValidationFailedError(
            "Only PDF, JPEG and PNG documents are accepted (checked by content).",
            code="document_type_not_allowed",
            param="file",
        )
    return str(kind.mime)
