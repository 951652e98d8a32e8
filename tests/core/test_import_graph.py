"""workflows_app's modules import each other without a cycle, and the core only downward.

The graph is read from the source, so an import inside a function counts as much
as one at the top of a module (an import moved into a function to dodge a cycle
is still a cycle). Imports under ``if TYPE_CHECKING:`` are left out: they never
run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import workflows_app

PACKAGE = Path(workflows_app.__file__).parent
ROOT = PACKAGE.parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    typing_only = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
        for statement in branch.body
        for node in ast.walk(statement)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in typing_only:
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


def import_graph() -> dict[str, set[str]]:
    """Each module of the package -> the modules of the package it imports when it runs."""
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        graph[module] = {
            target
            for node in _runtime_imports(tree)
            for target in _targets(node, module, is_package)
            if target in files and target != module
        }
    return graph


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


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 50  # the whole package was read
    assert cycles(graph) == []


def test_the_core_imports_neither_the_engines_nor_the_django_glue() -> None:
    graph = import_graph()
    upward = {
        (module, target)
        for module, targets in graph.items()
        if module.startswith("workflows_app.core")
        for target in targets
        if not target.startswith("workflows_app.core")
    }
    assert upward == set()


def test_the_check_finds_a_cycle_hidden_in_a_function() -> None:
    source = {"a": "from b import x\n", "b": "def f():\n    from a import y\n"}
    graph = {
        name: {
            t
            for node in _runtime_imports(ast.parse(text))
            for t in _targets(node, name, False)
            if t in source
        }
        for name, text in source.items()
    }
    assert cycles(graph) == [["a", "b"]]
