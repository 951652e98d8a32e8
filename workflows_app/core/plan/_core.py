"""What every part of one ``plan`` call shares: the state, the clock, and the actions owed.

:class:`RunCore` is the one object the collaborators of :class:`._planner.Planner`
all hold. It owns the run state being rewritten and the list of actions, and
writes the outputs every part makes the same way (stream events, step rows,
hand-outs), so a row or an event has one shape whichever node or outcome wrote
it. It decides nothing about the graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import WorkflowError
from ..storage import StepRecord
from ._rows import Ref, Rows, resolve
from ._state import coordinate_of

if TYPE_CHECKING:
    from ..graph import Entry
    from ..graph import WorkflowDefinition as Workflow

_KEPT = ("payload", "suspend_payload", "suspended_at", "resume_payload", "resumed_at")


class RunCore:
    """One application of an event: the run state, the time, the rows and the actions."""

    def __init__(
        self,
        workflow: Workflow | None,
        state: dict[str, Any],
        now: int,
        max_loop_iterations: int | None,
        rows: Rows,
    ) -> None:
        self.workflow = workflow  # None only for a cancel (see plan())
        self.workflows = workflow.nested_workflows() if workflow is not None else {}
        self.s = state
        self.now = now
        self.max_loop_iterations = max_loop_iterations
        self.rows = rows
        self.actions: list[dict[str, Any]] = []

    @property
    def root(self) -> Workflow:
        """The run's workflow; every event but a cancel is planned with it."""
        if self.workflow is None:
            raise WorkflowError("This event needs the workflow's definition")
        return self.workflow

    def entry_of(self, frame: dict[str, Any]) -> Entry:
        """The entry a frame's cursor is on."""
        entry: Entry = self.workflows[frame["wf"]].entries[frame["i"]]
        return entry

    def next_order(self) -> int:
        """A new number, unique in the run: hand-outs, timer armings and graph order use it."""
        self.s["order"] += 1
        return int(self.s["order"])

    # -- values -------------------------------------------------------------------
    def value(self, frame: dict[str, Any], ref: Ref | None = None) -> Any:
        """The value ``ref`` (by default the frame's ``prev``) names, read back from the rows."""
        return resolve(self.rows, frame["prev"] if ref is None else ref, self.frame_input(frame))

    def frame_input(self, frame: dict[str, Any]) -> Any:
        """A frame's input; the root frame's is the run's, on the run row."""
        return frame.get("input", self.rows.run_input)

    # -- outputs ------------------------------------------------------------------
    def emit(self, event_type: str, payload: dict[str, Any]) -> None:
        """Owe a stream event of the run."""
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

    def hand_out(self, key: str, task: dict[str, Any]) -> None:
        """Ask for ``task`` to run, under a new hand-out number that its report quotes.

        A key names a place in the graph, and a loop iteration, a retry or a resume
        hands the same key out again; the number tells a late or repeated report of
        an earlier hand-out from the report of the current one.
        """
        task["handout"] = self.next_order()
        self.actions.append({"type": "run", "key": key, "task": task})

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

    def record_frame(self, frame: dict[str, Any], status: str, **fields: Any) -> None:
        """Write the row of a nested workflow's frame."""
        self.record(frame_row(frame), status, **fields)

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


def frame_row(frame: dict[str, Any]) -> dict[str, Any]:
    """The row of a nested workflow's frame, as :meth:`RunCore.record` takes it."""
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
