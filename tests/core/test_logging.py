"""Log lines are JSON and never carry phone numbers, emails or transcript text."""

from __future__ import annotations

import json
import logging

import pytest

from kallglot.core.logging import PersonalDataFilter, configure_logging, redact

PERSONAL = {
    "email": "maria.garcia@example.com",
    "phone_number": "+34 612 345 678",
    "text": "mi número de cuenta es secreto",
}


def test_redact_masks_emails_and_phone_numbers() -> None:
    line = redact("call from +49 30 1234567 for bob@example.org about order 12")
    assert "1234567" not in line and "bob@" not in line
    assert "order 12" in line


def test_log_lines_are_json_without_personal_data(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_output=True)
    logger = logging.getLogger("kallglot.test")
    logger.info("call answered", extra={**PERSONAL, "session_id": "sess_1"})
    logger.warning("careless message mentioning %s and %s", PERSONAL["email"], "+1 (415) 555-0100")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["message"] == "call answered"
    assert lines[0]["session_id"] == "sess_1"
    dumped = json.dumps(lines)
    for value in [*PERSONAL.values(), "555-0100"]:
        assert value not in dumped
    assert all(line["level"] in {"INFO", "WARNING"} for line in lines)


def test_filter_keeps_the_record() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "to %s", ("a@b.co",), None)
    assert PersonalDataFilter().filter(record)
    assert record.getMessage() == "to [redacted]"


def test_redact_leaves_addresses_dates_and_ports_alone() -> None:
    line = "GET http://127.0.0.1:57223/readyz on 2026-11-29 took 12 ms"
    assert redact(line) == line


def test_redact_masks_national_numbers() -> None:
    assert "345" not in redact("caller 612 345 678 waited")
