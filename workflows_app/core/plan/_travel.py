"""Time travel in ``plan``: start a run at a chosen step, with a given history.

The steps before the target are not run: their results come from the event's
``context`` (``{path: step record}``, the *history*) and are written as the
run's rows. The target's input is the given ``input``, or else the output of the
entry before it (an ``{id: output}`` map after a parallel or branch). How the
target's entry starts is its handler's :meth:`._frames.NodeHandler.travel`: in a
parallel block the siblings keep their recorded outputs; in a branch only the
target arm runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from ..graph import entry_components, entry_ids
from ._core import RunCore
from ._frames import ONE, Frames
from ._rows import INPUT, Ref, row_ref
from ._state import ROOT, child_key, step_path
from ._waits import Waits

if TYPE_CHECKING:
    from ..graph import WorkflowDefinition as Workflow

_NO_INPUT = "__no_input__"


def history_ref(frame: dict[str, Any], step_id: str, history: dict[str, Any]) -> Ref:
    """The row :meth:`Travel.record_history` wrote for a step of the history (none: ``None``)."""
    path = step_path(frame["scope"], step_id)
    return row_ref([path, None, 0, 0]) if path in history else ["value", None]


class Travel:
    """The ``time-travel`` event."""

    def __init__(self, core: RunCore, frames: Frames, waits: Waits) -> None:
        self.core = core
        self.frames = frames
        self.waits = waits
        self.s = core.s

    def on_time_travel(self, event: dict[str, Any]) -> None:
        self.s["status"] = "running"
        self.s["state"] = dict(event.get("state") or {})
        self.s["context"] = dict(event.get("context_values") or {})
        self.s["resume_on"] = dict.fromkeys(event.get("resume_paths", ()), True)
        self.s["resume_data"] = event.get("resume")
        history: dict[str, Any] = event.get("context") or {}
        self.core.emit("workflow-start", {"run_id": self.s["run_id"]})
        self.waits.arm_run_timeout()
        for path, row in history.items():
            self.record_history(path, row)
        self.s["frames"][ROOT] = self.frames.new_frame(
            self.core.root, "", event.get("run_input"), parent=None
        )
        self.travel(ROOT, list(event["target"]), event.get("input", _NO_INPUT), history)

    def record_history(self, path: str, row: dict[str, Any]) -> None:
        """Write a step's given result as the run's row, as if it had run."""
        fields = {k: row.get(k) for k in ("output", "error", "ended_at") if row.get(k) is not None}
        task = {"path": path, "input": row.get("payload"), "started_at": row.get("started_at", self.core.now)}
        self.core.record(task, row.get("status", "success"), **fields)

    def travel(self, fkey: str, ids: list[str], data: Any, history: dict[str, Any]) -> None:
        """Put the frame's cursor on the entry of ``ids[0]`` and start it there (or go inside it)."""
        frame = self.s["frames"][fkey]
        entries = self.core.workflows[frame["wf"]].entries
        i = next(n for n, entry in enumerate(entries) if ids[0] in entry_ids(entry))
        entry = entries[i]
        frame["i"] = i
        frame["prev"] = self.input_before(frame, i, history) if data == _NO_INPUT else ["value", data]
        component = next((c for c in entry_components(entry) if c.id == ids[0]), None)
        if len(ids) > 1 and component is not None and hasattr(component, "entries"):
            frame["node"] = {"kind": ONE}
            nested = cast("Workflow", component)  # it has entries: a nested workflow
            self.travel_into(fkey, i, nested, ids[1:], data, history)
        else:
            self.frames.table.for_entry(entry).travel(fkey, frame, entry, ids[0], history)

    def travel_into(
        self, fkey: str, i: int, workflow: Workflow, ids: list[str], data: Any, history: dict[str, Any]
    ) -> None:
        """The target is inside a nested workflow: open its frame and travel on in it."""
        parent = self.s["frames"][fkey]
        key = child_key(fkey, i, workflow.id)
        scope = step_path(parent["scope"], workflow.id)
        frame = self.frames.new_frame(
            workflow, scope, self.core.value(parent), fkey, iteration=parent["iter"]
        )
        self.s["frames"][key] = frame
        self.core.record_frame(frame, "running")
        self.travel(key, ids, data, history)

    def input_before(self, frame: dict[str, Any], i: int, history: dict[str, Any]) -> Ref:
        """Where the output of entry ``i - 1`` is: the row the history's record of it was written to."""
        if i == 0:
            return list(INPUT)
        entry = self.core.workflows[frame["wf"]].entries[i - 1]
        ids = entry_ids(entry)
        if self.frames.table.for_entry(entry).keyed_output:
            found = [sid for sid in ids if step_path(frame["scope"], sid) in history]
            return ["ids", {sid: history_ref(frame, sid, history) for sid in found}]
        return history_ref(frame, ids[0], history)


def find_target(workflow: Workflow, ids: list[str]) -> Any:
    """The component at ``ids`` (a path through nested workflows), or ``None``."""
    current: Any = workflow
    for step_id in ids:
        entries = getattr(current, "entries", None)
        if entries is None:
            return None
        found = [c for entry in entries for c in entry_components(entry) if c.id == step_id]
        if not found:
            return None
        current = found[0]
    return current
