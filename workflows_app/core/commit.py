"""What one application of ``plan`` decided, sorted by where each part goes.

Both engines turn ``plan``'s actions into the same :class:`Decision`: run columns,
step rows and events to write, tasks to hand out, timers to arm, and whether the
run's other work is canceled. Only where the tasks go (which queue, claimed by
whom) differs between engines; that is decided where the decision is written.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .storage import RunRecord, StepRecord

Coordinate = tuple[str, int | None, int, int]
SETTLE = "settle"


@dataclass
class Decision:
    """One plan step: what to write and what work it owes."""

    state: dict[str, Any]
    run: dict[str, Any]
    steps: list[StepRecord] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    runs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    timers: list[tuple[str, int, int]] = field(default_factory=list)  # key, due (epoch ms), number
    matches: list[tuple[str, int]] = field(default_factory=list)  # key, number: looks for kept events
    waits: list[list[Any]] | None = None  # what the run's tasks wait for now, when that changed
    cancels: bool = False
    # Set once written: the run as this commit left it.
    record: RunRecord | None = None

    @property
    def status(self) -> str:
        return str(self.run["status"])

    @property
    def settled(self) -> bool:
        return self.status != "running"


def decide(state: dict[str, Any], actions: list[dict[str, Any]]) -> Decision:
    """Sort ``actions`` and derive the run row's columns from ``state``."""
    status = state["status"]
    run: dict[str, Any] = {
        "status": status,
        "run_state": state,
        "state": state["state"],
        "request_context": state.get("context", {}),
    }
    if status == "success":
        run["result"] = state["result"]
    elif status == "failed":
        run["error"] = state["error"]
    decision = Decision(state=state, run=run)
    for action in actions:
        kind = action["type"]
        if kind == "record":
            decision.steps.append(action["record"])
        elif kind == "event":
            decision.events.append(action["event"])
        elif kind == "run":
            decision.runs.append((action["key"], action["task"]))
        elif kind == "timer":
            decision.timers.append((action["key"], action["at"], action["n"]))
        elif kind == "match":
            decision.matches.append((action["key"], action["n"]))
        elif kind == "waits":
            decision.waits = action["waits"]
        elif kind == "cancel-tasks":
            decision.cancels = True
    return decision


def coordinate_of(task: dict[str, Any]) -> Coordinate:
    """The key of a task's step row: its foreach item within the item it runs inside.

    Steps inside a nested workflow that a foreach runs per item share their paths
    across items; keying their rows by the enclosing item keeps concurrent items'
    rows apart.
    """
    index = item_key(task.get("item"), task.get("fe"))
    return (task["path"], index, task.get("iter", 0), task.get("attempt", 0))


def item_key(enclosing: int | None, index: int | None) -> int | None:
    """One number for foreach item ``index`` inside foreach item ``enclosing``.

    Either may be absent. When both are there (a foreach in a nested workflow
    that another foreach runs per item) they are paired (Cantor), which is one
    to one: all rows of one path have the same nesting, so keys never mix kinds.
    """
    if enclosing is None:
        return index
    if index is None:
        return enclosing
    return (enclosing + index) * (enclosing + index + 1) // 2 + index


def context_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any] | None:
    """What a step changed in its request context: keys set and keys deleted."""
    changed = {key: value for key, value in after.items() if key not in before or before[key] != value}
    deleted = [key for key in before if key not in after]
    if not changed and not deleted:
        return None
    return {"set": copy.deepcopy(changed), "deleted": deleted}


def apply_context_delta(context: dict[str, Any], delta: dict[str, Any] | None) -> None:
    if not delta:
        return
    context.update(delta.get("set") or {})
    for key in delta.get("deleted") or ():
        context.pop(key, None)
