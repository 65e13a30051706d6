"""Dependencies point down the layers of ``docs/architecture.md``, and files import no cycle.

Every ``kallglot`` import in ``src/`` counts, at module level and inside functions;
only ``if TYPE_CHECKING:`` blocks are left out, as they never run. Imports not yet
fixed are listed below; the lists may only shrink: an entry that no longer occurs
fails the test too, so they stay true.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# Lowest first; a package may import its own layer and those below it.
LAYERS: list[tuple[str, set[str]]] = [
    ("core", {"core"}),
    ("storage", {"db", "crypto", "http", "infra"}),
    ("speech", {"speech"}),
    ("identity", {"accounts", "audit", "mail"}),
    ("calls", {"realtime", "telephony", "scale"}),
    ("business", {"privacy", "billing", "analytics"}),
    ("edge", {"api", "web", "cli", "__init__", "__main__"}),
]
RANK = {package: rank for rank, (_, packages) in enumerate(LAYERS) for package in packages}

# (importing module, imported module) pairs still pointing up; remove an entry with its import.
KNOWN_UPWARD_IMPORTS: set[tuple[str, str]] = {
    # Domains register purgers with privacy's registry (and privacy.purgers imports them
    # back through importlib): the registry belongs in the storage layer.
    ("kallglot.realtime.recordings", "kallglot.privacy.retention"),
    ("kallglot.telephony.calls.retention", "kallglot.privacy.retention"),
    ("kallglot.telephony.kyc.retention", "kallglot.privacy.retention"),
    # Session routes spend credits, a billing concern that lives in the edge (api.credits).
    ("kallglot.realtime.routes", "kallglot.api.credits"),
    ("kallglot.realtime.routes", "kallglot.api.ratelimit"),
}

# Import cycles between files (each a strongly connected set of modules), still to break.
# None today; privacy.purgers imports telephony by name through importlib, which no
# import statement shows (see docs/architecture.md).
KNOWN_CYCLES: set[frozenset[str]] = set()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk_running(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under ``node`` except the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield other
                yield from _walk_running(other)
            continue
        yield child
        yield from _walk_running(child)


def imports_of(module: str, source: str, modules: set[str]) -> set[str]:
    """The ``kallglot`` modules ``module`` imports, each resolved to the file it runs."""
    package = module if module + ".__init__" in modules else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _walk_running(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            # ``from package import submodule`` imports the submodule's file.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            if name == "kallglot" or name.startswith("kallglot."):
                while name not in modules and name + ".__init__" not in modules and "." in name:
                    name = name.rpartition(".")[0]
                found.add(name)
    found.discard(module)
    return found


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    files = {_module_name(path, root): path for path in sorted(root.glob("kallglot/**/*.py"))}
    modules = set(files) | {
        _module_name(path, root) + ".__init__" for path in root.glob("kallglot/**/__init__.py")
    }
    return {
        module: imports_of(module, path.read_text(encoding="utf-8"), modules)
        for module, path in files.items()
    }


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def upward_imports(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {
        (module, target)
        for module, targets in graph.items()
        for target in targets
        if RANK[_package(target)] > RANK[_package(module)]
    }


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected sets of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for start in graph:
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def test_every_package_has_a_layer() -> None:
    packages = {_package(module) for module in import_graph(SRC)}
    assert packages - set(RANK) == set(), "add the new package to LAYERS and the architecture doc"


def test_no_import_points_up_the_layers() -> None:
    found = upward_imports(import_graph(SRC))
    assert found - KNOWN_UPWARD_IMPORTS == set(), "an import points up the layers"
    assert KNOWN_UPWARD_IMPORTS - found == set(), "fixed: remove these from KNOWN_UPWARD_IMPORTS"


def test_no_import_cycle_between_files() -> None:
    found = cycles(import_graph(SRC))
    assert found - KNOWN_CYCLES == set(), "an import cycle between files"
    assert KNOWN_CYCLES - found == set(), "changed or broken: update KNOWN_CYCLES"


def test_the_checks_see_function_imports_and_skip_type_checking_blocks(tmp_path: Path) -> None:
    package = tmp_path / "kallglot"
    for name in ("core", "privacy"):
        (package / name).mkdir(parents=True)
        (package / name / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "core" / "clock.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from kallglot.privacy import rules\n"
        "def now():\n    from kallglot.privacy.rules import purpose\n    return purpose\n"
    )
    (package / "privacy" / "rules.py").write_text("from kallglot.core import clock\npurpose = 1\n")
    graph = import_graph(tmp_path)
    assert graph["kallglot.core.clock"] == {"kallglot.privacy.rules"}
    assert upward_imports(graph) == {("kallglot.core.clock", "kallglot.privacy.rules")}
    assert cycles(graph) == {frozenset({"kallglot.core.clock", "kallglot.privacy.rules"})}
