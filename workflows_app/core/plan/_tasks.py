"""Tasks: the user code a run owes, created here and described the same way everywhere.

A *task* is a step (``kind == "step"``) or a helper deciding the flow (a
branch's conditions, a loop's condition, a sleep's duration function). Nodes
create them through :class:`Tasks`; what a task's outcome means is
:mod:`._outcomes`. State changes of steps that run side by side are staged on
their node and merged here, in graph order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..retry import RetryPolicy, policy_of
from ._core import RunCore
from ._state import graph_order, step_path, task_component

if TYPE_CHECKING:
    from ..steps import Step


class Tasks:
    """Creating tasks, and the payloads of their stream events."""

    def __init__(self, core: RunCore) -> None:
        self.core = core
        self.s = core.s

    def schedule_step(self, key: str, fkey: str, entry: int, step: Step, payload: Any, **coords: Any) -> None:
        """Create the task of a leaf step, record it as running and ask for it to run."""
        frame = self.s["frames"][fkey]
        path = step_path(frame["scope"], step.id)
        runs = self.s["counts"].get(path, 0)
        self.s["counts"][path] = runs + 1
        task = {
            "kind": "step",
            "frame": fkey,
            "entry": entry,
            "step": step.id,
            "path": path,
            "input": payload,
            "attempt": 0,
            "status": "running",
            "fe": coords.get("fe"),
            "item": frame.get("item"),
            "iter": coords.get("iteration", frame["iter"]),
            "loop": coords.get("loop", False),
            "run_count": runs,
            "started_at": self.core.now,
            "order": self.core.next_order(),
        }
        if self.s.get("resume_on", {}).pop(path, None):
            task["resume"] = self.s.get("resume_data")
        self.s["tasks"][key] = task
        if self.s["budget"] is not None:
            self.s["budget"] -= 1
        self.core.record(task, "running")
        self.core.emit("workflow-step-start", self.start_payload(key, task))
        self.core.hand_out(key, task)

    def schedule_helper(self, key: str, fkey: str, entry: int, kind: str, payload: Any, **extra: Any) -> None:
        """Run user code that decides the flow (conditions, sleep functions), not a step."""
        task = {
            "kind": kind,
            "frame": fkey,
            "entry": entry,
            "input": payload,
            "status": "running",
            "attempt": 0,
            "order": self.core.next_order(),
            **extra,
        }
        self.s["tasks"][key] = task
        self.core.hand_out(key, task)

    def start_payload(self, key: str, task: dict[str, Any]) -> dict[str, Any]:
        """The payload of a step's ``workflow-step-start`` event (a first run, a retry, a resume)."""
        payload = {
            "id": task["path"],
            "step_name": task["step"],
            "step_call_id": f"{self.s['run_id']}:{key}",
            "payload": task["input"],
            "started_at": task["started_at"],
            "status": "running",
        }
        if task.get("fe") is not None:
            payload["for_each_index"] = task["fe"]
        for name in ("resume_payload", "resumed_at", "suspended_at"):
            if task.get(name) is not None:
                payload[name] = task[name]
        return payload

    def result_payload(self, key: str, task: dict[str, Any], status: str, **fields: Any) -> dict[str, Any]:
        """The payload of a step's result and retry events."""
        payload = {
            "id": task["path"],
            "step_name": task["step"],
            "step_call_id": f"{self.s['run_id']}:{key}",
            "status": status,
            "ended_at": self.core.now,
            **fields,
        }
        if task.get("fe") is not None:
            payload["for_each_index"] = task["fe"]
        return payload

    def flush_state(self, node: dict[str, Any], keys: list[str] | None = None) -> None:
        """Merge the staged changes of ``keys`` (all of them by default), in graph order.

        Graph order is the order of a parallel's (or a branch's) children, and
        item order in a foreach: the same at a join and when the run suspends
        before the join, whichever child finished first.
        """
        deltas = node.get("deltas") or {}
        children = node.get("children") or []
        if keys is None:
            keys = sorted(deltas, key=lambda key: graph_order(key, children))
        for key in keys:
            self.s["state"].update(deltas.pop(key, None) or {})

    def policy_of(self, task: dict[str, Any]) -> RetryPolicy:
        """The retry policy of a step's task: its own, else its workflow's."""
        workflow = self.core.workflows[self.s["frames"][task["frame"]]["wf"]]
        component = task_component(self.core.workflows, self.s, task)
        return policy_of(component.retries, workflow.retry_config)
