"""The handler of ``foreach`` entries: batches of items, their outputs and their progress.

The run state keeps a foreach's place, never its items or outputs: the items are
read one at a time from the row that holds the list (:func:`._rows.resolve_item`),
and the outputs stay in the items' rows until the foreach finishes, when they are
collected once. An item's commit costs the same however long the foreach is.
"""

from __future__ import annotations

from typing import Any

from ..errors import serialize_error
from ..graph import Entry, ForeachEntry, expect, is_workflow
from ._frames import NodeHandler
from ._rows import Ref, items_ref, resolve_item
from ._state import child_key, item_of, step_path


class ForeachNode(NodeHandler):
    """A foreach entry: items run ``concurrency`` at a time, outputs kept in input order."""

    entry = ForeachEntry
    kinds = ("foreach",)
    stages_state = True

    def start(self, fkey: str, frame: dict[str, Any], entry: Entry, items: Any) -> None:
        """Keep where the list is and how long, not the items, then start the first batch."""
        foreach = expect(entry, ForeachEntry)
        path = step_path(frame["scope"], foreach.step.id)
        row = {"path": path, "started_at": self.core.now, "iter": frame["iter"]}
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
            error = serialize_error(TypeError(f"foreach over {foreach.step.id!r} needs a list input"))
            self.core.record({**row, "input": items}, "failed", error=error, ended_at=self.core.now)
            self.frames.frame_failed(fkey, error)
            return
        self.core.record({**row, "input": items}, "running")
        self.core.emit(
            "workflow-step-start",
            {
                "id": path,
                "step_name": foreach.step.id,
                "payload": items,
                "started_at": self.core.now,
                "status": "running",
            },
        )
        self.next_batch(fkey, frame, foreach)

    def next_batch(self, fkey: str, frame: dict[str, Any], entry: ForeachEntry) -> None:
        """Start the next ``concurrency`` items, each read from the list's row; none left: done."""
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
            item = resolve_item(self.core.rows, node["items"], self.core.frame_input(frame), index)
            self.frames.start_child(fkey, frame["i"], entry.step, item, fe=index)

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
        outputs = self.core.value(frame, ref)
        self.core.rewrite(row, "success", output=outputs, ended_at=self.core.now)
        self.core.emit(
            "workflow-step-result",
            {
                "id": row["path"],
                "step_name": entry.step.id,
                "status": "success",
                "output": outputs,
                "ended_at": self.core.now,
            },
        )
        self.frames.entry_done(fkey, ref)

    def child_settled(
        self, fkey: str, frame: dict[str, Any], key: str, status: str, value: Any, ref: Ref | None
    ) -> None:
        """An item settled: progress is shown; when its batch is all settled, the next starts."""
        node = frame["node"]
        index = item_of(key)
        node["results"][str(index)] = status  # str keys: the run state goes through JSON
        if status == "success" and ref is not None and ref[1][3]:
            node["attempts"][str(index)] = ref[1][3]
        entry = expect(self.core.entry_of(frame), ForeachEntry)
        completed = sum(1 for out_status in node["results"].values() if out_status == "success")
        self.core.emit(
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
        self.frames.tasks.flush_state(node)
        failed = [i for i in node["batch"] if node["results"][str(i)] != "success"]
        if failed:
            self.core.rewrite(node["row"], "failed", error=value, ended_at=self.core.now)
            self.frames.frame_failed(fkey, value)
            return
        self.next_batch(fkey, frame, entry)

    def at_rest(self, fkey: str, node: dict[str, Any]) -> None:
        """A foreach waiting on suspended items shows as suspended, with each item's progress."""
        node["suspended"] = True
        progress = {"__workflow_meta": {"foreach_output": self.foreach_progress(fkey, node)}}
        self.core.rewrite(
            {**node["row"], "suspended_at": self.core.now, "suspend_payload": progress}, "suspended"
        )

    def resumed(self, node: dict[str, Any], data: Any) -> None:
        """A suspended foreach above a resumed item shows as running again."""
        if node.pop("suspended", False):
            self.core.rewrite({**node["row"], "resumed_at": self.core.now, "resume_payload": data}, "running")

    def foreach_progress(self, fkey: str, node: dict[str, Any]) -> list[dict[str, Any] | None]:
        """Per item: its output once done, its suspend payload while suspended, ``None`` if not started."""
        frame = self.s["frames"][fkey]
        entry = expect(self.core.entry_of(frame), ForeachEntry)
        first = node["next"] - len(node["batch"])
        outputs = self.core.value(frame, self.outputs_ref(frame, entry))
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
