"""The foreach side of ``plan``: batches of items, their outputs and their progress.

The run state keeps a foreach's place, never its items or outputs: the items are
read one at a time from the row that holds the list (:func:`._rows.resolve_item`),
and the outputs stay in the items' rows until the foreach finishes, when they are
collected once. An item's commit costs the same however long the foreach is.
The methods run on one :class:`._planner.Planner`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import serialize_error
from ..graph import ForeachEntry, expect, is_workflow
from ._rows import Ref, Rows, items_ref, resolve_item
from ._state import child_key, item_of, step_path

if TYPE_CHECKING:
    from ..graph import WorkflowDefinition as Workflow


class ForeachMixin:
    """A foreach entry: items run ``concurrency`` at a time, outputs kept in input order."""

    s: dict[str, Any]
    now: int
    workflows: dict[str, Workflow]
    rows: Rows

    if TYPE_CHECKING:

        def emit(self, event_type: str, payload: dict[str, Any]) -> None: ...
        def record(self, task: dict[str, Any], status: str, **fields: Any) -> None: ...
        def rewrite(self, row: dict[str, Any], status: str, **fields: Any) -> None: ...
        def flush_state(self, node: dict[str, Any], keys: list[str] | None = None) -> None: ...
        def entry_done(self, fkey: str, output: Ref) -> None: ...
        def frame_failed(self, fkey: str, error: Any) -> None: ...
        def start_child(self, fkey: str, i: int, component: Any, data: Any, **coords: Any) -> str | None: ...
        def value(self, frame: dict[str, Any], ref: Ref | None = None) -> Any: ...
        def frame_input(self, frame: dict[str, Any]) -> Any: ...

    def start_foreach(self, fkey: str, frame: dict[str, Any], entry: ForeachEntry, items: Any) -> None:
        path = step_path(frame["scope"], entry.step.id)
        row = {"path": path, "started_at": self.now, "iter": frame["iter"]}
        frame["node"] = {
            "kind": "foreach",
            "row": row,
            "items": frame["prev"],  # where the list is: an item is read from there when it starts
            "count": len(items) if isinstance(items, list) else 0,
            "next": 0,
            "batch": [],
            "results": {},
            "attempts": {},  # items that succeeded at a retry: {index: attempt}
        }
        if not isinstance(items, list):
            error = serialize_error(TypeError(f"foreach over {entry.step.id!r} needs a list input"))
            self.record({**row, "input": items}, "failed", error=error, ended_at=self.now)
            self.frame_failed(fkey, error)
            return
        self.record({**row, "input": items}, "running")
        self.emit(
            "workflow-step-start",
            {
                "id": path,
                "step_name": entry.step.id,
                "payload": items,
                "started_at": self.now,
                "status": "running",
            },
        )
        self.next_batch(fkey, frame, entry)

    def next_batch(self, fkey: str, frame: dict[str, Any], entry: ForeachEntry) -> None:
        node = frame["node"]
        if node["next"] >= node["count"]:
            self.foreach_done(fkey, frame, entry)
            return
        start = node["next"]
        batch = list(range(start, min(start + entry.concurrency, node["count"])))
        node["next"] = batch[-1] + 1
        node["batch"] = batch
        node["results"] = {}
        for index in batch:
            item = resolve_item(self.rows, node["items"], self.frame_input(frame), index)
            self.start_child(fkey, frame["i"], entry.step, item, fe=index)

    def outputs_ref(self, frame: dict[str, Any], entry: ForeachEntry) -> Ref:
        """Where the outputs of the foreach's items are: the rows of its items."""
        node = frame["node"]
        path = node["row"]["path"]
        nested = is_workflow(entry.step)
        return items_ref(
            path, frame["iter"], frame.get("item"), node["count"], node["attempts"], nested=nested
        )

    def foreach_done(self, fkey: str, frame: dict[str, Any], entry: ForeachEntry) -> None:
        """Collect the items' outputs from their rows, once: the foreach's output, in item order."""
        row = frame["node"]["row"]
        ref = self.outputs_ref(frame, entry)
        outputs = self.value(frame, ref)
        self.rewrite(row, "success", output=outputs, ended_at=self.now)
        self.emit(
            "workflow-step-result",
            {
                "id": row["path"],
                "step_name": entry.step.id,
                "status": "success",
                "output": outputs,
                "ended_at": self.now,
            },
        )
        self.entry_done(fkey, ref)

    def foreach_item_settled(
        self, fkey: str, frame: dict[str, Any], key: str, status: str, value: Any, ref: Ref | None
    ) -> None:
        node = frame["node"]
        index = item_of(key)
        node["results"][str(index)] = status  # str keys: the run state goes through JSON
        if status == "success" and ref is not None and ref[1][3]:
            node["attempts"][str(index)] = ref[1][3]
        entry = expect(self.workflows[frame["wf"]].entries[frame["i"]], ForeachEntry)
        completed = sum(1 for out_status in node["results"].values() if out_status == "success")
        self.emit(
            "workflow-step-progress",
            {
                "id": node["row"]["path"],
                "completed_count": node["next"] - len(node["batch"]) + completed,
                "total_count": node["count"],
                "current_index": index,
                "iteration_status": "success" if status == "success" else "failed",
            },
        )
        if len(node["results"]) < len(node["batch"]):
            return
        self.flush_state(node)
        failed = [i for i in node["batch"] if node["results"][str(i)] != "success"]
        if failed:
            self.rewrite(node["row"], "failed", error=value, ended_at=self.now)
            self.frame_failed(fkey, value)
            return
        self.next_batch(fkey, frame, entry)

    def mark_foreach_suspended(self, fkey: str, node: dict[str, Any]) -> None:
        """A foreach waiting on suspended items shows as suspended, with each item's progress."""
        node["suspended"] = True
        progress = {"__workflow_meta": {"foreach_output": self.foreach_progress(fkey, node)}}
        self.rewrite({**node["row"], "suspended_at": self.now, "suspend_payload": progress}, "suspended")

    def mark_foreach_resumed(self, fkey: str | None, data: Any) -> None:
        """Show each suspended foreach above a resumed item as running again."""
        while fkey is not None:
            frame = self.s["frames"][fkey]
            node = frame["node"]
            if node is not None and node["kind"] == "foreach" and node.pop("suspended", False):
                self.rewrite({**node["row"], "resumed_at": self.now, "resume_payload": data}, "running")
            fkey = frame["parent"]

    def foreach_progress(self, fkey: str, node: dict[str, Any]) -> list[dict[str, Any] | None]:
        """Per item: its output once done, its suspend payload while suspended, ``None`` if not started."""
        frame = self.s["frames"][fkey]
        entry = expect(self.workflows[frame["wf"]].entries[frame["i"]], ForeachEntry)
        first = node["next"] - len(node["batch"])
        outputs = self.value(frame, self.outputs_ref(frame, entry))
        progress: list[dict[str, Any] | None] = []
        for index, output in enumerate(outputs):
            status = "success" if index < first else node["results"].get(str(index))
            key = child_key(fkey, frame["i"], entry.step.id, index)
            child = self.s["tasks"].get(key) or self.s["frames"].get(key)
            if status == "success":
                progress.append({"status": status, "output": output})
            elif status is None and child is None:
                progress.append(None)
            else:
                item = {"status": status or "suspended"}
                if child is not None and child.get("suspend_payload") is not None:
                    item["suspend_payload"] = child["suspend_payload"]
                progress.append(item)
        return progress
