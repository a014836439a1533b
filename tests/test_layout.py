"""The layout rules a newcomer relies on: no import cycles between the project's modules."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "worker", "common", "models", "cli", "client")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_time_imports(path: Path, known: set[str]) -> set[str]:
    """Project modules ``path`` imports when it is imported: module-level statements only (an
    import inside a function or under ``if TYPE_CHECKING`` runs later, or never)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import mod` needs the module pkg.mod (pkg is imported first anyway, as
            # the parent of any of its modules); `from pkg import name` needs pkg itself.
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name for name in submodules if name in known]
            if len(names) < len(submodules):
                names.append(node.module)
        found |= {name for name in names if name in known}
    return found


def test_no_import_cycles() -> None:
    paths = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]
    modules = {module_name(path): path for path in paths}
    graph = {name: import_time_imports(path, set(modules)) for name, path in modules.items()}
    cycles: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)
