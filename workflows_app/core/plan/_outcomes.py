"""What a task's reported outcome means: success, failure and retry, suspend, bail, abort, tripwire.

A report is applied once: one for a task that is gone, no longer running, or
handed out again since (its ``handout`` number differs) changes nothing. A
helper's report goes to its node (:meth:`._frames.Frames.helper_done`); a
step's settles into its frame's node, or ends the run (bail, abort, tripwire).
"""

from __future__ import annotations

from typing import Any

from ..retry import RetryPolicy
from ._core import RunCore
from ._frames import Frames
from ._rows import row_ref
from ._state import apply_context_delta, coordinate_of
from ._tasks import Tasks
from ._waits import Waits


class Outcomes:
    """The ``task-done`` event, and stopping every piece of work when the run ends early."""

    def __init__(self, core: RunCore, tasks: Tasks, frames: Frames, waits: Waits) -> None:
        self.core = core
        self.tasks = tasks
        self.frames = frames
        self.waits = waits
        self.s = core.s

    def on_task_done(self, key: str, outcome: dict[str, Any], handout: int | None = None) -> None:
        task = self.s["tasks"].get(key)
        if task is None or task["status"] != "running" or self.s["status"] != "running":
            return  # a late or repeated report: the first one was applied
        if handout is not None and task.get("handout") != handout:
            return  # a report of an earlier hand-out of this key (an earlier iteration or attempt)
        if task["kind"] != "step":
            self.frames.helper_done(key, task, outcome)
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
        if node is not None and self.frames.table.for_node(node).stages_state:
            node.setdefault("deltas", {})[key] = delta
        else:
            self.s["state"].update(delta)

    def step_succeeded(self, key: str, task: dict[str, Any], outcome: dict[str, Any]) -> None:
        output = outcome.get("output")
        self.core.record(task, "success", output=output, ended_at=self.core.now)
        self.core.emit("workflow-step-result", self.tasks.result_payload(key, task, "success", output=output))
        del self.s["tasks"][key]
        self.frames.child_settled(task["frame"], key, "success", output, row_ref(coordinate_of(task)))

    def step_failed(self, key: str, task: dict[str, Any], outcome: dict[str, Any]) -> None:
        error = outcome.get("error")
        policy = self.tasks.policy_of(task)
        if not outcome.get("non_retryable") and task["attempt"] < policy.attempts:
            self.retry(key, task, error, policy)
            return
        self.core.record(task, "failed", error=error, ended_at=self.core.now)
        self.core.emit("workflow-step-result", self.tasks.result_payload(key, task, "failed", error=error))
        del self.s["tasks"][key]
        self.frames.child_settled(task["frame"], key, "failed", error)

    def retry(self, key: str, task: dict[str, Any], error: Any, policy: RetryPolicy) -> None:
        """Keep the failed attempt's row, and owe the next attempt: at once, or on a durable timer.

        The wait is a timer of the run (a task row due later), so a worker that
        dies during it loses nothing, and no worker sleeps through it.
        """
        now = self.core.now
        self.core.record(task, "failed", error=error, ended_at=now)
        failed = task["attempt"]
        task["attempt"] += 1
        due = now + policy.delay_ms(task["attempt"], seed=f"{self.s['run_id']}:{key}")
        payload = self.tasks.result_payload(key, task, "failed", error=error, attempt=failed, retry_at=due)
        self.core.emit("workflow-step-retry", payload)
        if due > now:
            task["status"] = "waiting"
            task["started_at"] = None
            self.core.record(task, "waiting", metadata={"retry_at": due})
            self.waits.arm_timer(key, task["frame"], due)
        else:
            task["started_at"] = now
            self.core.record(task, "running")
            self.core.hand_out(key, task)

    def step_suspended(self, key: str, task: dict[str, Any], outcome: dict[str, Any]) -> None:
        task["status"] = "suspended"
        task["suspended_at"] = self.core.now
        task.pop("resume", None)
        if "suspend_payload" in outcome:
            task["suspend_payload"] = outcome["suspend_payload"]
        label = outcome.get("label")
        if label:
            task["label"] = label
            self.s["labels"][label] = key
        fields = {"suspend_output": outcome["output"]} if outcome.get("output") is not None else {}
        self.core.record(task, "suspended", **fields)
        payload = {"id": task["path"], "status": "suspended", "suspended_at": self.core.now}
        if "suspend_payload" in task:
            payload["suspend_payload"] = task["suspend_payload"]
        if outcome.get("timeout_ms"):
            payload["timeout_at"] = self.waits.arm_deadline(key, task, int(outcome["timeout_ms"]))
        self.core.emit("workflow-step-suspended", payload)
        if outcome.get("wait"):
            self.waits.wait_for_event(key, task, outcome["wait"])

    def step_bailed(self, key: str, task: dict[str, Any], outcome: dict[str, Any]) -> None:
        value = outcome.get("output")
        self.core.record(task, "success", output=value, ended_at=self.core.now)
        self.core.emit("workflow-step-result", self.tasks.result_payload(key, task, "success", output=value))
        del self.s["tasks"][key]
        self.stop_everything()
        self.core.finish("success", result=value)

    def step_aborted(self, key: str, task: dict[str, Any], outcome: dict[str, Any]) -> None:
        self.core.record(task, "success", output=outcome.get("output"), ended_at=self.core.now)
        del self.s["tasks"][key]
        self.stop_everything()
        self.core.emit("workflow-canceled", {})
        self.core.finish("canceled")

    def step_tripwire(self, key: str, task: dict[str, Any], outcome: dict[str, Any]) -> None:
        self.core.record(task, "failed", error=outcome.get("error"), ended_at=self.core.now)
        del self.s["tasks"][key]
        self.stop_everything()
        self.core.finish("tripwire", tripwire=outcome.get("tripwire"))

    def stop_everything(self) -> None:
        """End every piece of work in flight: its rows say canceled, its workers see their abort signal.

        A node that keeps a row of its own (a sleep, a foreach) ends it as canceled too.
        """
        for task in self.s["tasks"].values():
            if task["kind"] == "step":
                self.core.record(task, "canceled", ended_at=self.core.now)
        for frame in self.s["frames"].values():
            node = frame["node"]
            if node is not None and "row" in node:
                self.core.rewrite(node["row"], "canceled", ended_at=self.core.now)
            if frame["parent"] is not None:
                self.core.record_frame(frame, "canceled", ended_at=self.core.now)
        self.core.actions.append({"type": "cancel-tasks"})
        self.s["tasks"].clear()
        self.s["timers"].clear()
