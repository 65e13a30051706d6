"""Structured JSON logging that keeps personal data out of the logs.

The rule: a log message is a constant sentence; values travel as ``extra``
fields. Fields that may hold personal data (phone numbers, emails, names,
transcript text) are never written, and anything in the rendered message that
looks like an email address or a phone number is redacted as a second line of
defence. ``tests/core/test_logging.py`` holds the rule to account.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import sys
from contextvars import ContextVar
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

PERSONAL_FIELDS = frozenset(
    {
        "email",
        "phone",
        "phone_number",
        "from_number",
        "to_number",
        "caller",
        "full_name",
        "text",
        "transcript",
        "translation",
        "password",
        "token",
        "secret",
        "address",
        "iban",
    }
)

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# International numbers (+…), or 3-3-3/4 digit groups; dates, ports and IP addresses are left alone.
_PHONE = re.compile(r"\+\d[\d ()-]{6,}\d|\b\d{3}[ -]?\d{3}[ -]?\d{3,4}\b")
REDACTED = "[redacted]"
# A query string after a path (``/v1/…/connect?token=kst_…``): credentials travel there.
_QUERY = re.compile(r"(/[^\s?\"']*)\?[^\s\"']+")
_IPV4 = re.compile(r"\b(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}(?::\d{1,5})?\b")
_IPV6 = re.compile(
    r"(?<![\w:])(?:(?:[0-9a-fA-F]{1,4}:){4,7}[0-9a-fA-F]{1,4}|[0-9a-fA-F:]*::[0-9a-fA-F:]*[0-9a-fA-F])"
    r"(?![\w:])"
)


def redact(text: str) -> str:
    """Replace what looks like an email address or phone number."""
    return _PHONE.sub(REDACTED, _EMAIL.sub(REDACTED, text))


def truncate_ip(address: str | None) -> str | None:
    """The network an address belongs to (IPv4 /24, IPv6 /48): enough to see abuse, not whom."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def scrub(text: str) -> str:
    """:func:`redact`, and also drop query strings and truncate IP addresses.

    For lines rendered by libraries (uvicorn's WebSocket handshake line carries the client's
    address and the URL with its ``?token=``).
    """
    text = _QUERY.sub(lambda match: f"{match.group(1)}?{REDACTED}", redact(text))
    text = _IPV4.sub(lambda match: f"{match.group(1)}.0", text)
    return _IPV6.sub(REDACTED, text)


class PersonalDataFilter(logging.Filter):
    """Drops personal ``extra`` fields and redacts the rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        for field in PERSONAL_FIELDS & record.__dict__.keys():
            setattr(record, field, REDACTED)
        message = scrub(record.getMessage())
        record.msg, record.args = message, None
        record.request_id = request_id_var.get()
        return True


class _Formatter(JsonFormatter):
    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["level"] = record.levelname
        log_data["logger"] = record.name


def configure_logging(
    level: str = "INFO", *, json_output: bool = True, stream: TextIO | None = None
) -> None:
    """Install the JSON handler on the root logger (idempotent), writing to ``stream``
    (default: standard error)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_kallglot", False):
            root.removeHandler(handler)
    # httpx (and httpx2, under Starlette's test client) log every URL they fetch at INFO: a
    # webhook URL or a download link is a credential.
    for client_logger in ("httpx", "httpx2"):
        logging.getLogger(client_logger).setLevel(logging.WARNING)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._kallglot = True  # type: ignore[attr-defined]
    handler.addFilter(PersonalDataFilter())
    if json_output:
        handler.setFormatter(_Formatter("%(asctime)s %(message)s %(request_id)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
