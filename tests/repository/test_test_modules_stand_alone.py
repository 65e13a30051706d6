"""A test module takes its helpers from a helper module or a conftest, never from another
test module (importing one runs its collection side effects twice and ties tests together)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _imported_test_modules(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = (
            [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else []
        )
        found += [
            n for n in names if n.startswith("tests.") and n.rsplit(".", 1)[-1].startswith("test_")
        ]
    return found


def test_no_module_imports_from_a_test_module() -> None:
    offences = [
        f"{path.relative_to(TESTS.parent)} imports {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for module in _imported_test_modules(path)
    ]
    assert not offences, "\n".join(offences)
