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


# A checkpoint line says "this ledger was in use when backup X was made": a restore trusts a
# ledger only if it holds the archive's checkpoint or a later one (it is at least as new).
CHECKPOINT = "backup_checkpoint_at"


class ErasureLedger:
    """Appends with one ``write`` on an ``O_APPEND`` descriptor, then ``fsync``: concurrent
    writers never interleave a line, and an erasure is on disk before its transaction commits."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def from_settings(cls, settings: Settings) -> ErasureLedger:
        return cls(settings.effective_erasure_ledger_path)

    def append(self, entry: ErasureEntry) -> None:
        self._append(entry.to_line())

    def mark_backup(self, backup_id: str, created_at: datetime) -> None:
        """Record that a backup made at ``created_at`` relies on this ledger."""
        record = {"backup_id": backup_id, CHECKPOINT: created_at.isoformat()}
        self._append((json.dumps(record, sort_keys=True) + "\n").encode())

    def newest_checkpoint(self) -> datetime | None:
        """When the newest backup that relied on this ledger was made (None: never, or no file)."""
        return max(self._parsed()[1], default=None)

    def _append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
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
        return self._parsed()[0]

    def _parsed(self) -> tuple[list[ErasureEntry], list[datetime]]:
        try:
            content = self.path.read_text()
        except FileNotFoundError:
            return [], []
        lines = content.split("\n")
        complete = lines[:-1]  # the text after the last newline is empty or a torn write
        entries, checkpoints = [], []
        for number, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            try:
                if f'"{CHECKPOINT}"' in line:
                    checkpoints.append(datetime.fromisoformat(json.loads(line)[CHECKPOINT]))
                else:
                    entries.append(ErasureEntry.from_line(line))
            except (ValueError, TypeError, KeyError):
                # Never skip an erasure silently: a restore must stop until this is repaired.
                raise InvalidRequestError(
                    f"the erasure ledger {self.path} is damaged at line {number}",
                    code="erasure_ledger_damaged",
                ) from None
        return entries, checkpoints

    def request_ids(self) -> set[str]:
        return {entry.request_id for entry in self.entries()}
