"""The layer rule of the README's layout, kept true: ``models/`` is the ground; ``sinks/``
and ``recommender/`` import ``models/`` (and each other where said below) and never
``streams/``; ``streams/`` may import all three. No import cycles between modules."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.support import REPO

PACKAGES = ("models", "sinks", "recommender", "streams", "deploy")
# what each top-level package may import from the project
ALLOWED = {
    "models": {"models"},
    "sinks": {"models", "sinks"},
    "recommender": {"models", "sinks", "recommender"},
    "deploy": {"models", "deploy"},
    "streams": {"models", "sinks", "recommender", "streams", "deploy"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_imports() -> dict[str, set[str]]:
    """module -> the project modules it imports (at any depth: lazy imports count too)."""
    modules = {module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                if target in modules:
                    graph[name].add(target)
        graph.setdefault(name, set())
    return graph


def test_layers_point_one_way() -> None:
    wrong = sorted(f"{module} imports {target}"
                   for module, targets in project_imports().items() for target in targets
                   if target.split(".")[0] not in ALLOWED[module.split(".")[0]])
    assert wrong == [], "imports against the layer rule:\n" + "\n".join(wrong)


def test_no_import_cycles() -> None:
    graph = project_imports()
    # a package's __init__ is imported with any of its modules; leave those edges out
    edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_streams_top_level_holds_packages_and_the_entry_points() -> None:
    loose = sorted(p.name for p in (REPO / "streams").glob("*.py"))
    assert loose == ["__init__.py", "app.py", "worker.py"], loose


def test_event_names_are_spelled_only_in_the_contract() -> None:
    from models.ecommerce import EventName

    spelled = []
    for pkg in ("models", "sinks", "recommender", "streams"):
        for path in (REPO / pkg).rglob("*.py"):
            if path == REPO / "models" / "ecommerce.py":
                continue
            text = path.read_text()
            spelled += [f"{path.relative_to(REPO)}: {name.value}" for name in EventName
                        if f'"{name.value}"' in text or f"'{name.value}'" in text]
    assert spelled == [], "event names written as literals outside models/ecommerce.py:\n" + \
        "\n".join(spelled)
