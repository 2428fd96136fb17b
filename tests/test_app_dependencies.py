"""The apps under apps/ import one another without cycles (every import counts, also those
inside functions), so each concern has one home and a lower app never reaches back up."""

from __future__ import annotations

import ast
from pathlib import Path

APPS = Path(__file__).resolve().parent.parent / "apps"


def _imported_modules(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            if node.module == "apps":  # from apps import fleet
                found.update(f"apps.{alias.name}" for alias in node.names)
    return found


def app_graph() -> dict[str, dict[str, set[str]]]:
    """{app: {app it imports: {files importing it}}}."""
    apps = sorted(p.name for p in APPS.iterdir() if (p / "__init__.py").exists())
    graph: dict[str, dict[str, set[str]]] = {app: {} for app in apps}
    for app in apps:
        for path in sorted((APPS / app).rglob("*.py")):
            for module in _imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
                parts = module.split(".")
                if parts[0] == "apps" and len(parts) > 1 and parts[1] != app:
                    where = str(path.relative_to(APPS.parent))
                    graph[app].setdefault(parts[1], set()).add(where)
    return graph


def find_cycle(graph: dict[str, dict[str, set[str]]]) -> list[str] | None:
    """One cycle as [a, b, …, a], or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_app_dependency_graph_has_no_cycle():
    graph = app_graph()
    cycle = find_cycle(graph)
    if cycle:
        edges = [
            f"{a} -> {b} ({', '.join(sorted(graph[a][b]))})" for a, b in zip(cycle, cycle[1:])
        ]
        raise AssertionError("import cycle between apps:\n  " + "\n  ".join(edges))


def test_the_graph_is_read_from_the_real_imports():
    graph = app_graph()
    assert {"api", "anomalies", "common", "fleet", "ingest", "metrics"} <= set(graph)
    assert "apps/api/urls.py" in graph["api"]["ingest"]
    assert "apps/ingest/services.py" in graph["ingest"]["metrics"]


def test_common_imports_no_other_app():
    assert app_graph()["common"] == {}


def test_a_cycle_is_found_and_named():
    graph = {
        "a": {"b": {"apps/a/x.py"}},
        "b": {"c": {"apps/b/y.py"}},
        "c": {"a": {"apps/c/z.py"}},
        "d": {"a": {"apps/d/w.py"}},
    }
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    del graph["c"]["a"]
    assert find_cycle(graph) is None
    assert find_cycle({"a": {"a": set()}}) == ["a", "a"]
