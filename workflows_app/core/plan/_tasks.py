"""The task side of ``plan``: scheduling user code, and what its outcomes mean.

Split from :mod:`plan` by concept; the methods run on one :class:`plan.Planner`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..retry import RetryPolicy, policy_of
from ..storage import StepRecord
from ._rows import Rows, row_ref
from ._state import apply_context_delta, coordinate_of, graph_order, step_path, task_component

if TYPE_CHECKING:
    from ..graph import WorkflowDefinition as Workflow
    from ..steps import Step

_KEPT = ("payload", "suspend_payload", "suspended_at", "resume_payload", "resumed_at")


class TaskMixin:
    """Task lifecycle: schedule, settle, retry, suspend, resume."""

    s: dict[str, Any]
    now: int
    root: Workflow
    workflows: dict[str, Workflow]
    actions: list[dict[str, Any]]
    rows: Rows

    if TYPE_CHECKING:

        def emit(self, event_type: str, payload: dict[str, Any]) -> None: ...
        def finish(self, status: str, **fields: Any) -> None: ...
        def child_settled(
            self, fkey: str, key: str, status: str, value: Any, ref: list[Any] | None = None
        ) -> None: ...
        def on_helper_done(self, key: str, task: dict[str, Any], outcome: dict[str, Any]) -> None: ...
        def mark_foreach_suspended(self, fkey: str, node: dict[str, Any]) -> None: ...
        def wait_for_event(self, key: str, task: dict[str, Any], wait: dict[str, Any]) -> None: ...
        def arm_timer(self, key: str, fkey: str, due: int) -> None: ...
        def arm_deadline(self, key: str, task: dict[str, Any], timeout_ms: int) -> int: ...

    # -- scheduling ---------------------------------------------------------------
    def next_order(self) -> int:
        self.s["order"] += 1
        return int(self.s["order"])

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
            "started_at": self.now,
            "order": self.next_order(),
        }
        if self.s.get("resume_on", {}).pop(path, None):
            task["resume"] = self.s.get("resume_data")
        self.s["tasks"][key] = task
        if self.s["budget"] is not None:
            self.s["budget"] -= 1
        self.record(task, "running")
        self.emit("workflow-step-start", self.start_payload(key, task))
        self.hand_out(key, task)

    def hand_out(self, key: str, task: dict[str, Any]) -> None:
        """Ask for ``task`` to run, under a new hand-out number that its report quotes.

        A key names a place in the graph, and a loop iteration, a retry or a resume
        hands the same key out again; the number tells a late or repeated report of
        an earlier hand-out from the report of the current one.
        """
        task["handout"] = self.next_order()
        self.actions.append({"type": "run", "key": key, "task": task})

    def schedule_helper(self, key: str, fkey: str, entry: int, kind: str, payload: Any, **extra: Any) -> None:
        """Run user code that decides the flow (conditions, sleep functions), not a step."""
        task = {
            "kind": kind,
            "frame": fkey,
            "entry": entry,
            "input": payload,
            "status": "running",
            "attempt": 0,
            "order": self.next_order(),
            **extra,
        }
        self.s["tasks"][key] = task
        self.hand_out(key, task)

    def start_payload(self, key: str, task: dict[str, Any]) -> dict[str, Any]:
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

    def record(self, task: dict[str, Any], status: str, **fields: Any) -> None:
        """Write the whole current row of a task's coordinate."""
        metadata = {"iteration_count": task["iter"]} if task.get("loop") else None
        if fields.get("metadata"):
            metadata = {**(metadata or {}), **fields.pop("metadata")}
        row = StepRecord(
            path=task["path"],
            foreach_index=coordinate_of(task)[1],
            iteration=task.get("iter", 0),
            attempt=task.get("attempt", 0),
            status=status,
            payload=task.get("payload", task.get("input")),
            started_at=task.get("started_at"),
            suspend_payload=task.get("suspend_payload"),
            suspended_at=task.get("suspended_at"),
            resume_payload=task.get("resume_payload"),
            resumed_at=task.get("resumed_at"),
            metadata=metadata,
            **fields,
        )
        self.rows.write(row)
        self.actions.append({"type": "record", "record": row})

    def rewrite(self, row: dict[str, Any], status: str, **fields: Any) -> None:
        """Write a row of the run's own (a sleep, a foreach) again, keeping what it holds.

        The state keeps only where such a row is; its payload and its suspend and
        resume details stay in the row, read back here.
        """
        stored = self.rows.row(coordinate_of(row))
        kept = {name: getattr(stored, name) for name in _KEPT} if stored is not None else {}
        self.record({**{k: v for k, v in kept.items() if v is not None}, **row}, status, **fields)

    # -- outcomes -----------------------------------------------------------------
    def on_task_done(self, key: str, outcome: dict[str, Any], handout: int | None = None) -> None:
        task = self.s["tasks"].get(key)
        if task is None or task["status"] != "running" or self.s["status"] != "running":
            return  # a late or repeated report: the first one was applied
        if handout is not None and task.get("handout") != handout:
            return  # a report of an earlier hand-out of this key (an earlier iteration or attempt)
        if task["kind"] != "step":
            self.on_helper_done(key, task, outcome)
            return
        if "payload" in outcome:
            task["payload"] = outcome["payload"]
        self.stage_state(key, task, outcome.get("state_delta"))
        apply_context_delta(self.s.setdefault("context", {}), outcome.get("context_delta"))
        for name, value in (outcome.get("usage") or {}).items():
            self.s["usage"][name] = self.s["usage"].get(name, 0) + value
        handler = {
            "success": self.step_succeeded,
            "failed": self.step_failed,
            "suspended": self.step_suspended,
            "bailed": self.step_bailed,
            "aborted": self.step_aborted,
            "tripwire": self.step_tripwire,
        }[outcome["status"]]
        handler(key, task, outcome)

    def stage_state(self, key: str, task: dict[str, Any], delta: dict[str, Any] | None) -> None:
        """Apply a step's state changes now, or at its join when it runs beside others.

        Steps that run side by side (parallel, branch arms, a foreach batch) see the
        state as it was when they started; their changes are merged at the join in
        graph order, so the result does not depend on which finished first.
        """
        if not delta:
            return
        node = self.s["frames"][task["frame"]]["node"]
        if node is not None and node["kind"] in ("multi", "foreach"):
            node.setdefault("deltas", {})[key] = delta
        else:
            self.s["state"].update(delta)

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

    def step_succeeded(self, key: str, task: dict[str, Any], outcome: dict[str, Any]) -> None:
        output = outcome.get("output")
        self.record(task, "success", output=output, ended_at=self.now)
        self.emit("workflow-step-result", self.result_payload(key, task, "success", output=output))
        del self.s["tasks"][key]
        self.child_settled(task["frame"], key, "success", output, row_ref(coordinate_of(task)))

    def step_failed(self, key: str, task: dict[str, Any], outcome: dict[str, Any]) -> None:
        error = outcome.get("error")
        policy = self.policy_of(task)
        if not outcome.get("non_retryable") and task["attempt"] < policy.attempts:
            self.retry(key, task, error, policy)
            return
        self.record(task, "failed", error=error, ended_at=self.now)
        self.emit("workflow-step-result", self.result_payload(key, task, "failed", error=error))
        del self.s["tasks"][key]
        self.child_settled(task["frame"], key, "failed", error)

    def retry(self, key: str, task: dict[str, Any], error: Any, policy: RetryPolicy) -> None:
        """Keep the failed attempt's row, and owe the next attempt: at once, or on a durable timer.

        The wait is a timer of the run (a task row due later), so a worker that
        dies during it loses nothing, and no worker sleeps through it.
        """
        self.record(task, "failed", error=error, ended_at=self.now)
        failed = task["attempt"]
        task["attempt"] += 1
        due = self.now + policy.delay_ms(task["attempt"], seed=f"{self.s['run_id']}:{key}")
        payload = self.result_payload(key, task, "failed", error=error, attempt=failed, retry_at=due)
        self.emit("workflow-step-retry", payload)
        if due > self.now:
            task["status"] = "waiting"
            task["started_at"] = None
            self.record(task, "waiting", metadata={"retry_at": due})
            self.arm_timer(key, task["frame"], due)
        else:
            task["started_at"] = self.now
            self.record(task, "running")
            self.hand_out(key, task)

    def step_suspended(self, key: str, task: dict[str, Any], outcome: dict[str, Any]) -> None:
        task["status"] = "suspended"
        task["suspended_at"] = self.now
        task.pop("resume", None)
        if "suspend_payload" in outcome:
            task["suspend_payload"] = outcome["suspend_payload"]
        label = outcome.get("label")
        if label:
            task["label"] = label
            self.s["labels"][label] = key
        fields = {"suspend_output": outcome["output"]} if outcome.get("output") is not None else {}
        self.record(task, "suspended", **fields)
        payload = {"id": task["path"], "status": "suspended", "suspended_at": self.now}
        if "suspend_payload" in task:
            payload["suspend_payload"] = task["suspend_payload"]
        if outcome.get("timeout_ms"):
            payload["timeout_at"] = self.arm_deadline(key, task, int(outcome["timeout_ms"]))
        self.emit("workflow-step-suspended", payload)
        if outcome.get("wait"):
            self.wait_for_event(key, task, outcome["wait"])

    def step_bailed(self, key: str, task: dict[str, Any], outcome: dict[str, Any]) -> None:
        value = outcome.get("output")
        self.record(task, "success", output=value, ended_at=self.now)
        self.emit("workflow-step-result", self.result_payload(key, task, "success", output=value))
        del self.s["tasks"][key]
        self.stop_everything()
        self.finish("success", result=value)

    def step_aborted(self, key: str, task: dict[str, Any], outcome: dict[str, Any]) -> None:
        self.record(task, "success", output=outcome.get("output"), ended_at=self.now)
        del self.s["tasks"][key]
        self.stop_everything()
        self.emit("workflow-canceled", {})
        self.finish("canceled")

    def step_tripwire(self, key: str, task: dict[str, Any], outcome: dict[str, Any]) -> None:
        self.record(task, "failed", error=outcome.get("error"), ended_at=self.now)
        del self.s["tasks"][key]
        self.stop_everything()
        self.finish("tripwire", tripwire=outcome.get("tripwire"))

    def stop_everything(self) -> None:
        """End every piece of work in flight: its rows say canceled, its workers see their abort signal."""
        for task in self.s["tasks"].values():
            if task["kind"] == "step":
                self.record(task, "canceled", ended_at=self.now)
        for frame in self.s["frames"].values():
            node = frame["node"]
            if node is not None and node["kind"] in ("sleep", "foreach") and "row" in node:
                self.rewrite(node["row"], "canceled", ended_at=self.now)
            if frame["parent"] is not None:
                self.record_frame(frame, "canceled", ended_at=self.now)
        self.actions.append({"type": "cancel-tasks"})
        self.s["tasks"].clear()
        self.s["timers"].clear()

    def result_payload(self, key: str, task: dict[str, Any], status: str, **fields: Any) -> dict[str, Any]:
        payload = {
            "id": task["path"],
            "step_name": task["step"],
            "step_call_id": f"{self.s['run_id']}:{key}",
            "status": status,
            "ended_at": self.now,
            **fields,
        }
        if task.get("fe") is not None:
            payload["for_each_index"] = task["fe"]
        return payload

    # -- nested workflow rows -----------------------------------------------------
    def mark_suspended_ancestors(self) -> None:
        """Show every nested workflow above a suspended step as suspended, with the path."""
        for task in self.s["tasks"].values():
            if task["status"] != "suspended":
                continue
            fkey = task["frame"]
            while fkey:
                frame = self.s["frames"][fkey]
                inner = task["path"][len(frame["scope"]) + 1 :].split(".")
                frame["suspended_at"] = self.now
                frame["suspend_payload"] = {"__workflow_meta": {"path": inner}}
                self.record_frame(frame, "suspended")
                fkey = frame["parent"]
        for fkey, frame in self.s["frames"].items():  # at rest, an open foreach waits on suspended items
            if frame["node"] is not None and frame["node"]["kind"] == "foreach":
                self.mark_foreach_suspended(fkey, frame["node"])

    def mark_ancestors_running(self, fkey: str) -> None:
        while fkey:
            frame = self.s["frames"][fkey]
            if "suspended_at" in frame:
                frame["resumed_at"] = self.now
                self.record_frame(frame, "running")
            fkey = frame["parent"]

    def record_frame(self, frame: dict[str, Any], status: str, **fields: Any) -> None:
        self.record(self.frame_row(frame), status, **fields)

    def frame_row(self, frame: dict[str, Any]) -> dict[str, Any]:
        """The row of a nested workflow's frame, as :meth:`record` takes it."""
        return {
            "path": frame["scope"],
            "fe": frame.get("fe"),
            "item": frame.get("item"),
            "iter": frame.get("iter_record", frame["iter"]),
            "input": frame["input"],
            "started_at": frame["started_at"],
            "suspend_payload": frame.get("suspend_payload"),
            "suspended_at": frame.get("suspended_at"),
            "resumed_at": frame.get("resumed_at"),
            "loop": frame.get("loop", False),
        }

    # -- lookups ------------------------------------------------------------------
    def workflow_of(self, task: dict[str, Any]) -> Workflow:
        return self.workflows[self.s["frames"][task["frame"]]["wf"]]

    def component_of(self, task: dict[str, Any]) -> Any:
        return task_component(self.workflows, self.s, task)

    def policy_of(self, task: dict[str, Any]) -> RetryPolicy:
        return policy_of(self.component_of(task).retries, self.workflow_of(task).retry_config)
