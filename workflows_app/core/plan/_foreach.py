"""The foreach side of ``plan``: batches of items, their outputs and their progress.

Split from :mod:`plan_nodes` by concept; the methods run on one :class:`plan.Planner`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import serialize_error
from ..graph import ForeachEntry, expect
from ._state import child_key, item_of, step_path

if TYPE_CHECKING:
    from ..graph import WorkflowDefinition as Workflow


class ForeachMixin:
    """A foreach entry: items run ``concurrency`` at a time, outputs kept in input order."""

    s: dict[str, Any]
    now: int
    workflows: dict[str, Workflow]

    if TYPE_CHECKING:

        def emit(self, event_type: str, payload: dict[str, Any]) -> None: ...
        def record(self, task: dict[str, Any], status: str, **fields: Any) -> None: ...
        def flush_state(self, node: dict[str, Any], keys: list[str] | None = None) -> None: ...
        def entry_done(self, fkey: str, output: Any) -> None: ...
        def frame_failed(self, fkey: str, error: Any) -> None: ...
        def start_child(self, fkey: str, i: int, component: Any, data: Any, **coords: Any) -> str | None: ...

    def start_foreach(self, fkey: str, frame: dict[str, Any], entry: ForeachEntry) -> None:
        items = frame["prev"]
        path = step_path(frame["scope"], entry.step.id)
        row = {"path": path, "input": items, "started_at": self.now, "iter": frame["iter"]}
        frame["node"] = {"kind": "foreach", "row": row, "outputs": [], "next": 0, "batch": [], "results": {}}
        if not isinstance(items, list):
            error = serialize_error(TypeError(f"foreach over {entry.step.id!r} needs a list input"))
            self.record(row, "failed", error=error, ended_at=self.now)
            self.frame_failed(fkey, error)
            return
        frame["node"]["outputs"] = [None] * len(items)
        self.record(row, "running")
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
        items = frame["prev"]
        if node["next"] >= len(items):
            row = node["row"]
            self.record(row, "success", output=node["outputs"], ended_at=self.now)
            self.emit(
                "workflow-step-result",
                {
                    "id": row["path"],
                    "step_name": entry.step.id,
                    "status": "success",
                    "output": node["outputs"],
                    "ended_at": self.now,
                },
            )
            self.entry_done(fkey, node["outputs"])
            return
        start = node["next"]
        batch = list(range(start, min(start + entry.concurrency, len(items))))
        node["next"] = batch[-1] + 1
        node["batch"] = batch
        node["results"] = {}
        for index in batch:
            self.start_child(fkey, frame["i"], entry.step, items[index], fe=index)

    def foreach_item_settled(
        self, fkey: str, frame: dict[str, Any], key: str, status: str, value: Any
    ) -> None:
        node = frame["node"]
        index = item_of(key)
        node["results"][str(index)] = status  # str keys: the run state goes through JSON
        if status == "success":
            node["outputs"][index] = value
        entry = expect(self.workflows[frame["wf"]].entries[frame["i"]], ForeachEntry)
        completed = sum(1 for out_status in node["results"].values() if out_status == "success")
        self.emit(
            "workflow-step-progress",
            {
                "id": node["row"]["path"],
                "completed_count": node["next"] - len(node["batch"]) + completed,
                "total_count": len(frame["prev"]),
                "current_index": index,
                "iteration_status": "success" if status == "success" else "failed",
            },
        )
        if len(node["results"]) < len(node["batch"]):
            return
        self.flush_state(node)
        failed = [i for i in node["batch"] if node["results"][str(i)] != "success"]
        if failed:
            self.record(node["row"], "failed", error=value, ended_at=self.now)
            self.frame_failed(fkey, value)
            return
        self.next_batch(fkey, frame, entry)

    def mark_foreach_suspended(self, fkey: str, node: dict[str, Any]) -> None:
        """A foreach waiting on suspended items shows as suspended, with each item's progress."""
        row = node["row"]
        row.update(suspended=True, suspended_at=self.now)
        row["suspend_payload"] = {"__workflow_meta": {"foreach_output": self.foreach_progress(fkey, node)}}
        self.record(row, "suspended")

    def mark_foreach_resumed(self, fkey: str | None, data: Any) -> None:
        """Show each suspended foreach above a resumed item as running again."""
        while fkey is not None:
            frame = self.s["frames"][fkey]
            node = frame["node"]
            if node is not None and node["kind"] == "foreach" and node["row"].pop("suspended", False):
                node["row"].update(resumed_at=self.now, resume_payload=data)
                self.record(node["row"], "running")
            fkey = frame["parent"]

    def foreach_progress(self, fkey: str, node: dict[str, Any]) -> list[dict[str, Any] | None]:
        """Per item: its output once done, its suspend payload while suspended, ``None`` if not started."""
        frame = self.s["frames"][fkey]
        step_id = node["row"]["path"].rpartition(".")[2]
        first = node["next"] - len(node["batch"])
        progress: list[dict[str, Any] | None] = []
        for index, output in enumerate(node["outputs"]):
            status = "success" if index < first else node["results"].get(str(index))
            key = child_key(fkey, frame["i"], step_id, index)
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
