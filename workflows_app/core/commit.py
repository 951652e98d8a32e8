"""What one application of ``plan`` means for storage and for the engine.

Every engine turns ``plan``'s actions into the same storage commit (run fields,
step rows, events) and the same work to start (tasks to run, timers to arm,
tasks to cancel); only how that work is carried out differs. This module is that
shared translation, so the engines cannot drift apart.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from .storage import Coordinate, RunRecord, StepRecord


@dataclass
class Commit:
    """One plan step, sorted by where each part goes."""

    run: dict[str, Any]
    steps: list[StepRecord] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    runs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    timers: list[tuple[str, int]] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    # Set by the evented engine: the run as this commit left it, and the task
    # key claimed in it for the worker that applied it.
    record: RunRecord | None = None
    claimed: str | None = None

    @property
    def settled(self) -> bool:
        return bool(self.run["status"] != "running")

    def lone_step(self) -> str | None:
        """The key of the one step this commit starts, if it starts nothing else.

        The evented worker that applied the commit runs such a step itself, with
        no bus hop: it is the next step of a sequence.
        """
        steps = [key for key, task in self.runs if task["kind"] == "step"]
        return steps[0] if len(steps) == 1 == len(self.runs) else None

    def claim(self, worker: str, until: int) -> None:
        """Write the lone step's row as claimed by ``worker`` (sparing it a claim query)."""
        key = self.lone_step()
        if key is None:
            return
        task = dict(self.runs)[key]
        for index, row in enumerate(self.steps):
            if row.is_task and row.status == "running" and row.coordinate == coordinate_of(task):
                self.steps[index] = replace(row, claimed_by=worker, claimed_until=until)
                self.claimed = key
                return


def coordinate_of(task: dict[str, Any]) -> Coordinate:
    """The key of a task's step row: its foreach item within the item it runs inside.

    Steps inside a nested workflow that a foreach runs per item share their paths
    across items; keying their rows by the enclosing item keeps concurrent items'
    rows (and so their claims on the evented engine) apart.
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


def commit_for(state: dict[str, Any], actions: list[dict[str, Any]]) -> Commit:
    """Sort ``actions`` and derive the run row's columns from ``state``."""
    status = state["status"]
    run: dict[str, Any] = {
        "status": status,
        "run_state": state,
        "state": state["state"],
        "request_context": state.get("context", {}),
        "wake_at": wake_at(state),
    }
    if status == "success":
        run["result"] = state["result"]
    elif status == "failed":
        run["error"] = state["error"]
    commit = Commit(run=run)
    for action in actions:
        kind = action["type"]
        if kind == "record":
            commit.steps.append(action["record"])
        elif kind == "event":
            commit.events.append(action["event"])
        elif kind == "run":
            commit.runs.append((action["key"], action["task"]))
        elif kind == "timer":
            commit.timers.append((action["key"], action["at"]))
        elif kind == "cancel-tasks":
            commit.cancels.extend(action["keys"])
    return commit


def wake_at(state: dict[str, Any]) -> datetime | None:
    """When the run's earliest timer is due: the run row's ``wake_at`` column."""
    timers = state.get("timers") or {}
    if not timers:
        return None
    return datetime.fromtimestamp(min(t["at"] for t in timers.values()) / 1000, tz=UTC)


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
