"""The repository is self-contained: nothing in it reads files from beside the clone."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Paths that climb out of the clone: `../x`, `Path(...).parent.parent / ...` above the root,
# `parents[N]` deep enough to leave it, or the team's shared folder by name.
CLIMBING = re.compile(r"""(["'/]\.\./)|(\.\./shared)|(\bshared/data\b)|(\bROOT\.parent\b)""")
SCANNED = ("src", "tests", "bench", "scripts", "deploy", "Makefile", ".ci")
TEXT_SUFFIXES = {".py", ".sh", ".cfg", ".toml", ".txt", ".yml", ".yaml", ".json", ""}
# A line that names an outside path on purpose, to prove it is refused, carries this marker.
REFUSAL_MARKER = "outside-the-clone: refused"


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--", *SCANNED], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).suffix in TEXT_SUFFIXES]


def test_no_tracked_file_reads_from_outside_the_clone() -> None:
    this_file = Path(__file__).resolve()
    offenders = []
    for path in tracked_files():
        if path == this_file or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0] if path.suffix in {".py", ".sh", ""} else line
            if CLIMBING.search(code) and REFUSAL_MARKER not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_parents_index_never_climbs_above_the_repository_root() -> None:
    offenders = []
    for path in tracked_files():
        if path.suffix != ".py" or not path.is_file():
            continue
        depth_to_root = len(path.relative_to(ROOT).parts) - 1
        for match in re.finditer(r"parents\[(\d+)\]", path.read_text(encoding="utf-8")):
            if int(match.group(1)) > depth_to_root:
                offenders.append(f"{path.relative_to(ROOT)}: parents[{match.group(1)}]")
    assert offenders == []


def test_the_speech_clips_ship_with_their_licence() -> None:
    clips = ROOT / "tests" / "data" / "speech" / "fleurs"
    assert (clips / "LICENSE.md").read_text(encoding="utf-8").count("CC BY 4.0") >= 1
    assert len(list(clips.glob("fleurs-*.ogg"))) == len(list(clips.glob("fleurs-*.txt"))) > 0
