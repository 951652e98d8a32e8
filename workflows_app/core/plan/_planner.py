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

The planner is put together from plain collaborators sharing one
:class:`._core.RunCore`: :class:`._tasks.Tasks`, :class:`._waits.Waits`,
:class:`._frames.Frames` (with one :class:`._frames.NodeHandler` per kind of
entry, looked up in one table), :class:`._outcomes.Outcomes`,
:class:`._wakeups.Wakeups` and :class:`._travel.Travel`. This module wires them
and keeps what concerns the run as a whole: dispatching the event, starting,
canceling, restarting, the workflow's timeout and settling a quiescent run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import WorkflowError, WorkflowTimeoutError, serialize_error
from ._core import RunCore
from ._flow import BranchNode, LoopNode, ParallelNode, StepNode
from ._foreach import ForeachNode
from ._frames import Frames, NodeHandler
from ._outcomes import Outcomes
from ._rows import Rows, upgrade
from ._sleep import SleepNode
from ._state import BUSY, DEADLINE, OPEN, ROOT
from ._tasks import Tasks
from ._travel import Travel
from ._waits import Waits
from ._wakeups import Wakeups

if TYPE_CHECKING:
    from ..graph import WorkflowDefinition as Workflow


NODE_KINDS: tuple[type[NodeHandler], ...] = (
    StepNode,
    ParallelNode,
    BranchNode,
    LoopNode,
    ForeachNode,
    SleepNode,
)
"""The handler of each kind of entry; :class:`._frames.NodeTable` looks them up."""


class Planner:
    """One application of an event to a run state, collecting the actions."""

    def __init__(
        self,
        workflow: Workflow | None,
        state: dict[str, Any],
        now: int,
        max_loop_iterations: int | None = None,
        rows: Rows | None = None,
    ) -> None:
        rows = rows if rows is not None else Rows(None, str(state.get("run_id", "")))
        self.core = core = RunCore(workflow, state, now, max_loop_iterations, rows)
        self.s = state
        self.actions = core.actions
        self.tasks = Tasks(core)
        self.waits = waits = Waits(core)
        self.frames = Frames(core, self.tasks, waits, NODE_KINDS)
        self.outcomes = Outcomes(core, self.tasks, self.frames, waits)
        self.wakeups = Wakeups(core, self.tasks, self.frames)
        self.travel = Travel(core, self.frames, waits)

    # -- dispatch -------------------------------------------------------------
    def apply(self, event: dict[str, Any]) -> None:
        before = self.waits.waits()
        self.dispatch(event)
        self.settle()
        after = self.waits.waits()
        if after != before:  # the index senders find waiting runs by is written with this commit
            self.actions.append({"type": "waits", "waits": after})

    def dispatch(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "start":
            self.on_start(event)
        elif kind == "task-done":
            self.outcomes.on_task_done(event["key"], event["outcome"], event.get("handout"))
        elif kind == "resume":
            self.s.setdefault("context", {}).update(event.get("context") or {})
            self.wakeups.on_resume(event["keys"], event.get("data"))
        elif kind == "timer" and event["key"] == DEADLINE:
            self.on_run_timeout(event.get("handout"))
        elif kind == "event":
            self.wakeups.on_event(event["event"], event["keys"])
        elif kind == "timer":
            self.wakeups.on_timer(event["key"], event.get("handout"))
        elif kind == "cancel":
            self.on_cancel()
        elif kind == "restart":
            self.on_restart()
        elif kind == "time-travel":
            self.travel.on_time_travel(event)
        else:
            raise ValueError(f"Unknown plan event {kind!r}")

    def on_start(self, event: dict[str, Any]) -> None:
        self.s["status"] = "running"
        self.s["state"] = dict(event.get("state") or {})
        self.s["context"] = dict(event.get("context") or {})
        self.core.emit("workflow-start", {"run_id": self.s["run_id"]})
        self.waits.arm_run_timeout()
        self.s["frames"][ROOT] = self.frames.new_frame(self.core.root, "", event.get("input"), parent=None)
        self.frames.advance(ROOT)

    def on_cancel(self) -> None:
        if self.s["status"] not in OPEN:
            return
        self.outcomes.stop_everything()
        self.core.emit("workflow-canceled", {})
        self.core.finish("canceled")

    def on_restart(self) -> None:
        """Hand out again whatever was owed when the process that held it died.

        The restart's commit drops the run's old task rows; each running task and
        armed timer gets a new number, so a late report from the dead holder of
        an old one changes nothing.
        """
        self.s["status"] = "running"
        for key, task in self.s["tasks"].items():
            if task["status"] == "running":
                self.core.hand_out(key, task)
        for key, timer in list(self.s["timers"].items()):
            self.waits.arm_timer(key, timer["frame"], timer["at"])
        self.waits.rearm_deadlines()
        if self.s.get("deadline"):
            self.waits.arm_run_timeout(self.s["deadline"]["at"])

    def on_run_timeout(self, number: int | None) -> None:
        """The workflow's ``timeout`` is up: the run fails, whatever it was doing."""
        deadline = self.s.get("deadline")
        if deadline is None or (number is not None and deadline["n"] != number):
            return  # an earlier arming (before a restart or a time travel) fired late
        if self.s["status"] not in OPEN - {"pending"}:
            return
        self.outcomes.stop_everything()
        self.s["frames"].clear()
        root = self.core.root
        late = WorkflowTimeoutError(f"Workflow {root.id!r} did not finish within {root.timeout:g} s")
        self.core.finish("failed", error=serialize_error(late))

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
                    self.tasks.flush_state(frame["node"])
            self.frames.show_suspended()
            self.s["status"] = "suspended"
            self.actions.append({"type": "settle", "status": "suspended"})
        elif self.s["frames"]:
            self.core.emit("workflow-paused", {})
            self.core.finish("paused")


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
    try:
        planner.apply(event)
    finally:
        planner.frames.table.close()
    return planner.s, planner.actions
