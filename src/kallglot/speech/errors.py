"""Errors of the speech domain; each names what is missing or wrong."""

from __future__ import annotations

from kallglot.core.errors import (
    InvalidRequestError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)


class AudioDecodeError(InvalidRequestError):
    """The bytes are not audio we can decode (corrupt, empty or unknown format)."""

    code = "audio_undecodable"


class AudioTooLongError(PayloadTooLargeError):
    """The audio is longer than the configured limit."""

    code = "audio_too_long"


class UnsupportedLanguageError(InvalidRequestError):
    """No installed engine serves this language for this task."""

    code = "language_unsupported"


class UnsupportedPairError(InvalidRequestError):
    """No installed engine (direct or by pivot) translates this language pair."""

    code = "unsupported_language_pair"


class ModelNotInstalledError(ServiceUnavailableError):
    """A model or engine package is missing or damaged on this machine."""

    code = "model_not_installed"


class ModelDownloadError(ServiceUnavailableError):
    """A model could not be downloaded from the model hub (offline, or unknown name)."""

    code = "model_download_failed"


class EngineError(ServiceUnavailableError):
    """An engine failed while running (a crashed subprocess, a native error)."""

    code = "speech_engine_failed"
