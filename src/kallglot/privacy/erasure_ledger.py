"""The erasure ledger: an append-only file recording every erasure, kept outside the backups.

A backup is a copy of the database, data keys included. Restoring one taken before an
erasure would bring the erased subject back, keys and all. So every erasure is also written
here — outside the database and the blob store, so no restore ever overwrites it — and a
restore re-applies each erasure the backup does not already contain
(:mod:`kallglot.privacy.backup`).

An entry holds only opaque references (the user id and the organization's keyed lookup
hashes of the email address and phone number), never the address or number itself. The file
must live on storage as durable as the database and, with several nodes, be shared by them
(``KALLGLOT_ERASURE_LEDGER_PATH``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from kallglot.core.errors import InvalidRequestError
from kallglot.core.settings import Settings
from kallglot.privacy.subjects import Subject


@dataclass(frozen=True)
class ErasureEntry:
    """One completed (or, if the process died before commit, attempted) erasure."""

    request_id: str
    organization_id: str
    erased_at: datetime
    user_id: str | None = None
    email_hash: str | None = None
    phone_hash: str | None = None

    def subject(self) -> Subject:
        """The subject as the stores see it: references only, no plain address or number."""
        return Subject(
            organization_id=self.organization_id,
            user_id=self.user_id,
            email_hash=self.email_hash,
            phone_hash=self.phone_hash,
        )

    @property
    def kind(self) -> str:
        """How the subject was named: ``user``, ``email`` or ``phone`` (as in requests)."""
        if self.phone_hash is not None:
            return "phone"
        return "email" if self.email_hash is not None and self.user_id is None else "user"

    def to_line(self) -> bytes:
        record = asdict(self) | {"erased_at": self.erased_at.isoformat()}
        return (json.dumps(record, sort_keys=True) + "\n").encode()

    @classmethod
    def from_line(cls, line: str) -> ErasureEntry:
        record = json.loads(line)
        record["erased_at"] = datetime.fromisoformat(record["erased_at"])
        return cls(**record)


class ErasureLedger:
    """Appends with one ``write`` on an ``O_APPEND`` descriptor, then ``fsync``: concurrent
    writers never interleave a line, and an erasure is on disk before its transaction commits."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def from_settings(cls, settings: Settings) -> ErasureLedger:
        return cls(settings.effective_erasure_ledger_path)

    def append(self, entry: ErasureEntry) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            line = entry.to_line()
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # A write torn by a crash (its erasure never committed): keep it on a line of
                # its own, which `entries` reports, rather than glued to this entry.
                line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> list[ErasureEntry]:
        """Every entry, oldest first. A last line torn by a crash mid-write is ignored."""
        try:
            content = self.path.read_text()
        except FileNotFoundError:
            return []
        lines = content.split("\n")
        complete = lines[:-1]  # the text after the last newline is empty or a torn write
        entries = []
        for number, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            try:
                entries.append(ErasureEntry.from_line(line))
            except (ValueError, TypeError, KeyError):
                # Never skip an erasure silently: a restore must stop until this is repaired.
                raise InvalidRequestError(
                    f"the erasure ledger {self.path} is damaged at line {number}",
                    code="erasure_ledger_damaged",
                ) from None
        return entries

    def request_ids(self) -> set[str]:
        return {entry.request_id for entry in self.entries()}
