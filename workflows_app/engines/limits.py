"""The engines' side of limits (``core/limits.py``): holding runs back, gating step rows.

A start of a workflow with a concurrency limit does not start the run: its
commit creates the run ``pending``, with a ``workflow-limit-waiting`` event and
an ``admit`` task row that carries the limit. The claim takes that row only
while the key has a free slot, oldest first; the worker that took it commits
the ``start`` (:mod:`.admission`) and the run goes on as any other. A step
with limits gets a gated row that no commit claims for its committer: every
execution goes through the claim's check, on both engines.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..core.commit import Decision
from ..core.limits import ADMIT, run_gate, step_gate, user_key
from ..core.plan import TERMINAL, task_component
from ..core.storage import Change, TaskRow

if TYPE_CHECKING:
    from ..core.graph import WorkflowDefinition
    from ..core.storage import RunRecord

WAITING = "workflow-limit-waiting"


def held_start(
    workflow: WorkflowDefinition | None, record: RunRecord, events: list[dict[str, Any]], queue: str
) -> tuple[Change, Decision, list[TaskRow]] | None:
    """The commit of a start that waits for a slot; ``None`` for every other commit."""
    if workflow is None or workflow.concurrency is None or len(events) != 1:
        return None
    event = events[0]
    if event["type"] != "start" or event.get("admitted"):
        return None
    gate = run_gate(workflow.id, workflow.concurrency, record.input)
    waiting = {
        "type": WAITING,
        "run_id": record.run_id,
        "from": "WORKFLOW",
        "payload": {"key": user_key(gate.limit_key), "limit": gate.limit_n},
    }
    run = {"status": "pending", "limit_key": gate.limit_key}
    decision = Decision(state=record.run_state, run=run, events=[waiting])
    rows = [TaskRow(ADMIT, 0, ADMIT, queue, gate=gate)]
    return Change(run=run, events=[waiting], tasks=rows), decision, rows


def gated(
    row: TaskRow, workflow: WorkflowDefinition | None, state: dict[str, Any], task: dict[str, Any]
) -> TaskRow:
    """A step's task row with its step's limits, if it has any."""
    if workflow is None or task.get("kind") != "step":
        return row
    gate = step_gate(task_component(workflow.nested_workflows(), state, task))
    return replace(row, gate=gate) if gate.limit_key else row


def uses_limits(workflow: WorkflowDefinition) -> bool:
    """Whether runs of ``workflow`` may have gated task rows: it, or a step at any level, has limits."""
    if workflow.concurrency is not None:
        return True
    return any(
        getattr(step, "concurrency", None) is not None or getattr(step, "rate", None) is not None
        for nested in workflow.nested_workflows().values()
        for step in nested.steps.values()
    )


def frees_slot(decision: Decision) -> bool:
    """Whether a commit ended a run that held a slot of its workflow's limit."""
    record = decision.record
    return bool(record is not None and record.limit_key and record.status in TERMINAL)
