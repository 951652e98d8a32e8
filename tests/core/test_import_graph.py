"""workflows_app's modules import each other without a cycle, and the core only downward.

The graph is read from the source of every module, and every import statement
counts wherever it is: at the top of a module, inside a function (an import
moved into a function to dodge a cycle is still a cycle) and under
``if TYPE_CHECKING:`` (a type that needs the module above is a dependency on
it; such cycles are broken with a protocol in the lower module, not hidden).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import workflows_app

PACKAGE = Path(workflows_app.__file__).parent
ROOT = PACKAGE.parent
CORE = "workflows_app.core"
# What the core may not import from outside the package: the Django glue is above it.
FRAMEWORKS = ("django", "channels", "daphne", "rest_framework", "ninja")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, wherever it stands."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[: len(parts) - node.level + 1]
        base = ".".join([*parts, node.module] if node.module else parts)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _sources() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts}


def all_imports() -> dict[str, set[str]]:
    """Each module of the package -> every module (of the package or not) it names in an import."""
    imports: dict[str, set[str]] = {}
    for module, path in _sources().items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        imports[module] = {target for node in _imports(tree) for target in _targets(node, module, is_package)}
    return imports


def import_graph() -> dict[str, set[str]]:
    """Each module of the package -> the modules of the package it imports."""
    imports = all_imports()
    return {
        module: {target for target in targets if target in imports and target != module}
        for module, targets in imports.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def loop_in(graph: dict[str, set[str]], members: list[str]) -> list[str]:
    """One import loop through a cycle's modules, to name in the failure: a -> b -> ... -> a."""
    inside = set(members)
    start = members[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        module = queue.pop(0)
        for target in sorted(graph[module] & inside):
            if target == start:
                return [*paths[module], start]
            if target not in paths:
                paths[target] = [*paths[module], target]
                queue.append(target)
    return members


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 50  # the whole package was read
    loops = [" -> ".join(loop_in(graph, members)) for members in cycles(graph)]
    assert loops == [], "import cycles:\n" + "\n".join(loops)


def test_the_core_imports_neither_the_engines_nor_the_django_glue() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in all_imports().items()
        if module.startswith(CORE)
        for target in targets
        if (target.startswith("workflows_app.") and not target.startswith(CORE))
        or target.split(".")[0] in FRAMEWORKS
    )
    assert upward == []


def _graph_of(source: dict[str, str]) -> dict[str, set[str]]:
    return {
        name: {t for node in _imports(ast.parse(text)) for t in _targets(node, name, False) if t in source}
        for name, text in source.items()
    }


def test_the_check_finds_a_cycle_hidden_in_a_function() -> None:
    graph = _graph_of({"a": "from b import x\n", "b": "def f():\n    from a import y\n"})
    assert cycles(graph) == [["a", "b"]]
    assert loop_in(graph, ["a", "b"]) == ["a", "b", "a"]


def test_the_check_finds_a_cycle_through_type_only_imports() -> None:
    source = {
        "a": "from b import x\n",
        "b": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from a import Y\n",
    }
    assert cycles(_graph_of(source)) == [["a", "b"]]
