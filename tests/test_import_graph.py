"""The import graph: no cycle inside tracing/, and the UI never imports the command line.

Every import counts, also those inside functions (the old ``cli`` <-> ``timeline_cli`` cycle
hid behind late imports); only ``if TYPE_CHECKING:`` blocks are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def _graph(folder: str) -> dict[str, set[str]]:
    paths = sorted((ROOT / folder).rglob("*.py"))
    names = {_module(p) for p in paths}
    return {_module(p): {m for m in _imports(p) if m in names} - {_module(p)} for p in paths}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                found.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep, path)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_no_import_cycle_in_the_engine():
    graph = _graph("tracing")
    graph["tracing"] = set()  # the package re-exports; its submodules never import it back
    assert "tracing.cli" in graph and "tracing.rows" in graph
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b", "a"]]


def test_ui_and_pages_import_nothing_from_the_command_line():
    offenders = []
    for folder in ("ui", "pages"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            cli = {m for m in _imports(path) if m.startswith("tracing.cli") or "_cli" in m}
            if cli:
                offenders.append(f"{path.relative_to(ROOT)}: {', '.join(sorted(cli))}")
    app = _imports(ROOT / "app.py")
    assert offenders == [] and not any(m.startswith("tracing.cli") for m in app)
