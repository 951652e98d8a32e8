"""``plan``: the one place that decides what a run does next.

``plan(workflow, state, event) -> (state, actions)`` is pure: no I/O, no clock
(``event["now"]`` is the time, in epoch milliseconds), no randomness. Both engines
feed it events and carry out the actions it returns; neither decides anything.

Invariants of the run state (a small JSON dict, never the step outputs):

- ``frames`` holds one frame per live execution of a workflow: the root (key
  ``""``) and each nested workflow being run. A frame walks its workflow's entries
  with a cursor ``i``; ``prev`` names the output that feeds the current entry
  (a reference to the step rows that hold it, :mod:`._rows`), never the output.
- Its size does not grow with a foreach or a loop: item outputs stay in their
  rows and are collected when the foreach finishes; a foreach's items are read
  one at a time from the row that holds them.
- ``tasks`` holds every piece of user code that is running, waiting to run again
  (retry), or suspended. A task key is the coordinate of its place in the graph:
  ``<frame key>/<entry index>:<step id>`` plus ``#<n>`` for a foreach item.
- A child (task or frame) reports to the node of its parent frame when it settles;
  a node completes its entry, which moves the frame on.
- The run is quiescent when no task runs and no timer is armed; it then ends as
  ``suspended`` (some task is suspended), ``paused`` (perStep budget used up), or
  the frame walk has already ended it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import WorkflowError, WorkflowTimeoutError, serialize_error
from ._events import EventMixin
from ._foreach import ForeachMixin
from ._nodes import NodeMixin
from ._rows import Rows, upgrade
from ._state import BUSY, DEADLINE, OPEN, ROOT
from ._tasks import TaskMixin
from ._travel import TravelMixin

if TYPE_CHECKING:
    from ..graph import WorkflowDefinition as Workflow


class Planner(TaskMixin, NodeMixin, ForeachMixin, TravelMixin, EventMixin):
    """One application of an event to a run state, collecting the actions."""

    def __init__(
        self,
        workflow: Workflow | None,
        state: dict[str, Any],
        now: int,
        max_loop_iterations: int | None = None,
        rows: Rows | None = None,
    ) -> None:
        if workflow is not None:  # only a cancel is planned without it (see plan())
            self.root = workflow
        self.workflows = workflow.nested_workflows() if workflow is not None else {}
        self.s = state
        self.now = now
        self.max_loop_iterations = max_loop_iterations
        self.actions: list[dict[str, Any]] = []
        self.rows = rows if rows is not None else Rows(None, str(state.get("run_id", "")))

    # -- dispatch -------------------------------------------------------------
    def apply(self, event: dict[str, Any]) -> None:
        before = self.waits()
        self.dispatch(event)
        self.settle()
        after = self.waits()
        if after != before:  # the index senders find waiting runs by is written with this commit
            self.actions.append({"type": "waits", "waits": after})

    def dispatch(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "start":
            self.on_start(event)
        elif kind == "task-done":
            self.on_task_done(event["key"], event["outcome"], event.get("handout"))
        elif kind == "resume":
            self.s.setdefault("context", {}).update(event.get("context") or {})
            self.on_resume(event["keys"], event.get("data"))
        elif kind == "timer" and event["key"] == DEADLINE:
            self.on_run_timeout(event.get("handout"))
        elif kind == "event":
            self.on_event(event["event"], event["keys"])
        elif kind == "timer":
            self.on_timer(event["key"], event.get("handout"))
        elif kind == "cancel":
            self.on_cancel()
        elif kind == "restart":
            self.on_restart()
        elif kind == "time-travel":
            self.on_time_travel(event)
        else:
            raise ValueError(f"Unknown plan event {kind!r}")

    def on_start(self, event: dict[str, Any]) -> None:
        self.s["status"] = "running"
        self.s["state"] = dict(event.get("state") or {})
        self.s["context"] = dict(event.get("context") or {})
        self.emit("workflow-start", {"run_id": self.s["run_id"]})
        self.arm_run_timeout()
        self.s["frames"][ROOT] = self.new_frame(self.root, "", event.get("input"), parent=None)
        self.advance(ROOT)

    def on_cancel(self) -> None:
        if self.s["status"] not in OPEN:
            return
        self.stop_everything()
        self.emit("workflow-canceled", {})
        self.finish("canceled")

    def on_restart(self) -> None:
        """Hand out again whatever was owed when the process that held it died.

        The restart's commit drops the run's old task rows; each running task and
        armed timer gets a new number, so a late report from the dead holder of
        an old one changes nothing.
        """
        self.s["status"] = "running"
        for key, task in self.s["tasks"].items():
            if task["status"] == "running":
                self.hand_out(key, task)
        for key, timer in list(self.s["timers"].items()):
            self.arm_timer(key, timer["frame"], timer["at"])
        self.rearm_deadlines()
        if self.s.get("deadline"):
            self.arm_run_timeout(self.s["deadline"]["at"])

    # -- the workflow's timeout ---------------------------------------------------
    def arm_run_timeout(self, due: int | None = None) -> None:
        """Owe a timer that fails the run when its workflow's ``timeout`` is up.

        It is kept apart from ``timers``: those keep a run from settling, while the
        deadline runs on through suspensions (a run's timeout bounds its whole life).
        """
        if self.root.timeout is None:
            return
        if due is None:
            due = self.now + round(self.root.timeout * 1000)
        deadline = {"at": due, "n": self.next_order()}
        self.s["deadline"] = deadline
        self.actions.append({"type": "timer", "key": DEADLINE, "at": due, "n": deadline["n"]})

    def on_run_timeout(self, number: int | None) -> None:
        deadline = self.s.get("deadline")
        if deadline is None or (number is not None and deadline["n"] != number):
            return  # an earlier arming (before a restart or a time travel) fired late
        if self.s["status"] not in OPEN - {"pending"}:
            return
        self.stop_everything()
        self.s["frames"].clear()
        late = WorkflowTimeoutError(
            f"Workflow {self.root.id!r} did not finish within {self.root.timeout:g} s"
        )
        self.finish("failed", error=serialize_error(late))

    # -- run-level settling -----------------------------------------------------
    def settle(self) -> None:
        """End the run as suspended or paused once nothing is left running."""
        if self.s["status"] != "running":
            return
        if self.s["timers"] or any(t["status"] in BUSY for t in self.s["tasks"].values()):
            return
        if any(t["status"] == "suspended" for t in self.s["tasks"].values()):
            for frame in self.s["frames"].values():
                if frame["node"] is not None:
                    self.flush_state(frame["node"])
            self.mark_suspended_ancestors()
            self.s["status"] = "suspended"
            self.actions.append({"type": "settle", "status": "suspended"})
        elif self.s["frames"]:
            self.emit("workflow-paused", {})
            self.finish("paused")

    def finish(self, status: str, *, result: Any = None, **fields: Any) -> None:
        """End the run; its result goes to the run row with this commit, not into the state."""
        self.s["status"] = status
        self.s.pop("deadline", None)
        self.s.update(fields)
        payload = {
            "workflow_status": status,
            "metadata": {},
            "output": {"usage": dict(self.s["usage"])},
        }
        self.emit("workflow-finish", payload)
        settle = {"type": "settle", "status": status}
        self.actions.append({**settle, "result": result} if status == "success" else settle)

    # -- output helpers -----------------------------------------------------------
    def emit(self, event_type: str, payload: dict[str, Any]) -> None:
        self.actions.append(
            {
                "type": "event",
                "event": {
                    "type": event_type,
                    "run_id": self.s["run_id"],
                    "from": "WORKFLOW",
                    "payload": payload,
                },
            }
        )


def plan(
    workflow: Workflow | None,
    state: dict[str, Any],
    event: dict[str, Any],
    *,
    max_loop_iterations: int | None = None,
    rows: Rows | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Apply ``event`` to ``state``; return the new state and the actions to carry out.

    ``workflow`` may be ``None`` for a cancel only: a process that does not have
    the definition can still cancel a run.

    The state is updated in place and returned; callers that need the old state
    keep a copy. ``max_loop_iterations`` caps each loop of the run (a runaway
    condition fails the run instead of looping for ever). ``rows`` are the run's
    step rows as this commit sees them; without them, only the rows written by
    this call can be read back.
    """
    if workflow is None and event["type"] != "cancel":
        raise WorkflowError(f"Planning a {event['type']!r} event needs the workflow's definition")
    planner = Planner(workflow, upgrade(state), int(event["now"]), max_loop_iterations, rows)
    planner.apply(event)
    return planner.s, planner.actions
