"""Writes a new migration by comparing the models with a freshly migrated scratch database."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from kallglot.db.migrate import alembic_config, upgrade


def autogenerate(revision_id: str, message: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'autogenerate.db'}"
        upgrade(url)
        command.revision(
            alembic_config(url), message=message, autogenerate=True, rev_id=revision_id
        )


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[1] or not sys.argv[2]:
        sys.exit('usage: make migration REV=0003 MSG="what it adds"')
    autogenerate(sys.argv[1], sys.argv[2])
