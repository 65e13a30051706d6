"""The erasure ledger: append-only lines, a write torn by a crash, damage reported."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kallglot.core.errors import InvalidRequestError
from kallglot.privacy.erasure_ledger import ErasureEntry, ErasureLedger


def entry(request_id: str, **refs: str) -> ErasureEntry:
    return ErasureEntry(request_id, "org_1", datetime(2026, 11, 1, tzinfo=UTC), **refs)


def test_entries_come_back_as_written_and_a_torn_last_write_is_ignored(tmp_path: Path) -> None:
    ledger = ErasureLedger(tmp_path / "privacy" / "ledger.jsonl")
    assert ledger.entries() == []
    ledger.append(entry("dsr_a", user_id="usr_1", email_hash="e" * 64))
    ledger.append(entry("dsr_b", phone_hash="p" * 64))
    with ledger.path.open("ab") as handle:
        handle.write(b'{"request_id": "dsr_c", "organ')  # the process died mid-write

    assert ledger.entries() == [
        entry("dsr_a", user_id="usr_1", email_hash="e" * 64),
        entry("dsr_b", phone_hash="p" * 64),
    ]
    assert [e.kind for e in ledger.entries()] == ["user", "phone"]
    assert ledger.path.stat().st_mode & 0o777 == 0o600


def test_a_torn_write_followed_by_more_entries_is_reported_not_skipped(tmp_path: Path) -> None:
    ledger = ErasureLedger(tmp_path / "ledger.jsonl")
    ledger.append(entry("dsr_a", user_id="usr_1"))
    with ledger.path.open("ab") as handle:
        handle.write(b'{"request_id": "dsr_b"')
    ledger.append(entry("dsr_c", email_hash="e" * 64))

    with pytest.raises(InvalidRequestError, match="damaged at line 2") as damaged:
        ledger.entries()
    assert damaged.value.code == "erasure_ledger_damaged"
    # The entry after the torn one stayed whole, on its own line.
    assert ErasureEntry.from_line(ledger.path.read_text().splitlines()[2]) == entry(
        "dsr_c", email_hash="e" * 64
    )
