"""The workflow graph as the admin draws it: entries top to bottom, each node with its status.

The shape comes from the compiled graph's JSON description
(:func:`workflows_app.core.graph.describe_entry`), the colours from the run's step
rows, so a graph is drawn the same way whether the run is live or years old.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .core.mapping import short_label
from .core.storage import StepRecord, latest_steps


@dataclass
class Node:
    """One step, nested workflow or sleep of the graph."""

    id: str
    path: str
    kind: str
    status: str = "pending"
    children: list[Row] = field(default_factory=list)
    items_done: int = 0
    items_total: int = 0
    iterations: int = 0  # loop nodes: the iterations run so far

    @property
    def label(self) -> str:
        """The id to show: generated ids shortened, the full id is the node's hover title."""
        return short_label(self.id)

    @property
    def progress_percent(self) -> int:
        return round(100 * self.items_done / self.items_total) if self.items_total else 0


@dataclass
class Row:
    """One entry of a workflow: its nodes run one after another (then) or side by side."""

    kind: str
    label: str
    nodes: list[Node]


def build_graph(graph: Sequence[dict[str, Any]], rows: Sequence[StepRecord], prefix: str = "") -> list[Row]:
    """The rows of ``graph`` with each node's status taken from ``rows`` (none: pending)."""
    current = latest_steps(rows)
    return [_row(entry, current, rows, prefix) for entry in graph]


def _row(
    entry: dict[str, Any], current: dict[str, StepRecord], rows: Sequence[StepRecord], prefix: str
) -> Row:
    kind = entry["type"]
    if kind == "sleep":
        path = prefix + entry["id"]
        found = current.get(path)
        node = Node(id=entry["id"], path=path, kind="sleep", status=found.status if found else "pending")
        return Row(kind=kind, label="sleep until" if entry.get("until") else "sleep", nodes=[node])
    nodes = [_node(component, kind, current, rows, prefix) for component in entry.get("steps", [])]
    return Row(kind=kind, label=_label(entry), nodes=nodes)


def _node(
    component: dict[str, Any],
    kind: str,
    current: dict[str, StepRecord],
    rows: Sequence[StepRecord],
    prefix: str,
) -> Node:
    path = prefix + component["id"]
    found = current.get(path)
    node = Node(
        id=component["id"],
        path=path,
        kind=component.get("component", "STEP").lower(),
        status=found.status if found else "pending",
    )
    if "graph" in component:
        node.children = [_row(child, current, rows, path + ".") for child in component["graph"]]
    if kind == "loop":
        node.iterations = max((row.iteration for row in rows if row.path == path), default=0)
    if kind == "foreach":
        items = [row for row in rows if row.path == path and row.foreach_index is not None]
        node.items_done = len({row.foreach_index for row in items if row.status == "success"})
        payload = found.payload if found else None
        node.items_total = (
            len(payload) if isinstance(payload, list) else len({r.foreach_index for r in items})
        )
    return node


def _label(entry: dict[str, Any]) -> str:
    kind = entry["type"]
    if kind == "foreach":
        return f"foreach (concurrency {entry.get('concurrency', 1)})"
    if kind == "loop":
        return str(entry.get("loop", "loop"))
    if kind == "conditional":
        return "branch"
    if kind == "parallel":
        return "parallel (failures allowed)" if entry.get("allow_failure") else "parallel"
    return ""
