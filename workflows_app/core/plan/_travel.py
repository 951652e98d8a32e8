"""Time travel in ``plan``: start a run at a chosen step, with a given history.

The steps before the target are not run: their results come from the event's
``context`` (``{path: step record}``) and are written as the run's rows. The
target's input is the given ``input``, or else the output of the entry before it
(an ``{id: output}`` map after a parallel or branch). In a parallel block the
siblings keep their recorded outputs; in a branch only the target arm runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..graph import BranchEntry, ParallelEntry, entry_components, entry_ids
from ._rows import INPUT, Ref, row_ref
from ._state import ROOT, child_key, step_path

if TYPE_CHECKING:
    from ..graph import WorkflowDefinition as Workflow

_NO_INPUT = "__no_input__"


class TravelMixin:
    """The ``time-travel`` event."""

    s: dict[str, Any]
    now: int
    root: Workflow
    workflows: dict[str, Workflow]

    if TYPE_CHECKING:

        def emit(self, event_type: str, payload: dict[str, Any]) -> None: ...
        def arm_run_timeout(self, due: int | None = None) -> None: ...
        def record(self, task: dict[str, Any], status: str, **fields: Any) -> None: ...
        def new_frame(
            self, workflow: Workflow, scope: str, data: Any, parent: str | None, **extra: Any
        ) -> dict[str, Any]: ...
        def start_child(self, fkey: str, i: int, component: Any, data: Any, **coords: Any) -> str | None: ...
        def start_entry(self, fkey: str, frame: dict[str, Any], entry: Any) -> None: ...
        def record_frame(self, frame: dict[str, Any], status: str, **fields: Any) -> None: ...
        def value(self, frame: dict[str, Any], ref: Ref | None = None) -> Any: ...

    def on_time_travel(self, event: dict[str, Any]) -> None:
        self.s["status"] = "running"
        self.s["state"] = dict(event.get("state") or {})
        self.s["context"] = dict(event.get("context_values") or {})
        self.s["resume_on"] = dict.fromkeys(event.get("resume_paths", ()), True)
        self.s["resume_data"] = event.get("resume")
        context: dict[str, Any] = event.get("context") or {}
        self.emit("workflow-start", {"run_id": self.s["run_id"]})
        self.arm_run_timeout()
        for path, row in context.items():
            self.record_context(path, row)
        self.s["frames"][ROOT] = self.new_frame(self.root, "", event.get("run_input"), parent=None)
        self.travel(ROOT, list(event["target"]), event.get("input", _NO_INPUT), context)

    def record_context(self, path: str, row: dict[str, Any]) -> None:
        fields = {k: row.get(k) for k in ("output", "error", "ended_at") if row.get(k) is not None}
        task = {"path": path, "input": row.get("payload"), "started_at": row.get("started_at", self.now)}
        self.record(task, row.get("status", "success"), **fields)

    def travel(self, fkey: str, ids: list[str], data: Any, context: dict[str, Any]) -> None:
        frame = self.s["frames"][fkey]
        entries = self.workflows[frame["wf"]].entries
        i = next(n for n, entry in enumerate(entries) if ids[0] in entry_ids(entry))
        entry = entries[i]
        frame["i"] = i
        frame["prev"] = self.input_before(frame, i, context) if data == _NO_INPUT else ["value", data]
        component = next((c for c in entry_components(entry) if c.id == ids[0]), None)
        if len(ids) > 1 and component is not None and hasattr(component, "entries"):
            frame["node"] = {"kind": "one"}
            self.travel_into(fkey, i, component, ids[1:], data, context)
        elif isinstance(entry, ParallelEntry):
            self.travel_parallel(fkey, frame, entry, ids[0], context)
        elif isinstance(entry, BranchEntry):
            frame["node"] = {
                "kind": "multi",
                "children": [child_key(fkey, i, ids[0])],
                "ids": [ids[0]],
                "results": {},
            }
            self.start_child(fkey, i, component, self.value(frame))
        else:
            self.start_entry(fkey, frame, entry)

    def travel_into(
        self, fkey: str, i: int, workflow: Any, ids: list[str], data: Any, context: dict[str, Any]
    ) -> None:
        parent = self.s["frames"][fkey]
        key = child_key(fkey, i, workflow.id)
        scope = step_path(parent["scope"], workflow.id)
        frame = self.new_frame(workflow, scope, self.value(parent), fkey, iteration=parent["iter"])
        self.s["frames"][key] = frame
        self.record_frame(frame, "running")
        self.travel(key, ids, data, context)

    def travel_parallel(
        self, fkey: str, frame: dict[str, Any], entry: ParallelEntry, target: str, context: dict[str, Any]
    ) -> None:
        i = frame["i"]
        keys = [child_key(fkey, i, c.id) for c in entry.steps]
        results = {}
        for key, component in zip(keys, entry.steps, strict=True):
            if component.id != target:
                results[key] = {"status": "success", "ref": self.context_ref(frame, component.id, context)}
        frame["node"] = {
            "kind": "multi",
            "children": keys,
            "ids": [c.id for c in entry.steps],
            "results": results,
        }
        component = next(c for c in entry.steps if c.id == target)
        self.start_child(fkey, i, component, self.value(frame))

    def input_before(self, frame: dict[str, Any], i: int, context: dict[str, Any]) -> Ref:
        """Where the output of entry ``i - 1`` is: the row the context's record of it was written to."""
        if i == 0:
            return list(INPUT)
        entry = self.workflows[frame["wf"]].entries[i - 1]
        ids = entry_ids(entry)
        if isinstance(entry, ParallelEntry | BranchEntry):
            found = [sid for sid in ids if self.path_in(frame, sid) in context]
            return ["ids", {sid: self.context_ref(frame, sid, context) for sid in found}]
        return self.context_ref(frame, ids[0], context)

    def context_ref(self, frame: dict[str, Any], step_id: str, context: dict[str, Any]) -> Ref:
        """The row :meth:`record_context` wrote for a step of the given history (none: ``None``)."""
        path = self.path_in(frame, step_id)
        return row_ref([path, None, 0, 0]) if path in context else ["value", None]

    def path_in(self, frame: dict[str, Any], step_id: str) -> str:
        return step_path(frame["scope"], step_id)


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
