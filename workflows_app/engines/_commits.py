"""What a commit is made of: who applies it, what it decided, the task rows it owes.

The decision itself is ``plan`` (the core); here it becomes the ``change`` a
storage writes in one transaction, with one task row per piece of work it owes.
Where each row goes is the engine's placement (:class:`Placement`), so this
module knows no engine.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from ..core.commit import Decision, decide
from ..core.errors import WorkflowError
from ..core.limits import ADMIT
from ..core.plan import Rows, StepReader, plan
from ..core.records import evolve
from ..core.storage import CALLBACKS, MATCH, TIMER, Change, Claim, RunRecord, TaskRow
from .limits import gated, held_start

if TYPE_CHECKING:
    from ..core.graph import WorkflowDefinition
    from ..core.storage import Reset


class DefinitionMismatchError(WorkflowError):
    """This process has another version of the workflow than the one the run started with."""


class Committer(Protocol):
    """Who applies a commit: a worker, or the process of a caller (``run.astart()`` and the like)."""

    id: str

    def claimable(self, freed: int = 0) -> int | None:
        """How many of the commit's new tasks it takes for itself (``None``: all of them).

        ``freed`` is how many tasks the commit completes: their slots are free
        once it is written (unless the committer is stopping).
        """


@dataclass
class Caller:
    """A process that starts, resumes or cancels runs without running their steps itself."""

    id: str = field(default_factory=lambda: f"caller-{socket.gethostname()}-{os.getpid()}")

    def claimable(self, freed: int = 0) -> int | None:
        return 0


@dataclass
class Deferred:
    """A committer for a commit written inside a larger transaction: it takes none of its tasks.

    Nothing may run before that transaction commits, so the tasks wait in the
    queue they would have gone to; the workers are rung for them once it committed.
    """

    id: str

    def claimable(self, freed: int = 0) -> int | None:
        return 0


@dataclass
class Committed:
    """A written commit: what it decided, the seqs of its events, the task rows it wrote."""

    decision: Decision
    rows: list[TaskRow]
    seqs: list[int] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return str(self.decision.state["run_id"])

    def claims_of(self, committer: Committer, *, kinds: Sequence[str] | None = None) -> list[Claim]:
        """The rows this commit claimed for ``committer`` (lease number 1)."""
        return [
            row.claimed(self.run_id)
            for row in self.rows
            if row.owner == committer.id and (kinds is None or row.kind in kinds)
        ]

    @property
    def queued(self) -> list[TaskRow]:
        return [row for row in self.rows if not row.owner]


class Placement(Protocol):
    """Where an engine puts the work a commit owes, and for how long a claim on it lasts."""

    options: dict[str, Any]

    @property
    def lease_ms(self) -> int: ...

    @property
    def storage(self) -> StepReader: ...

    def queue_for(self, kind: str, committer: Committer, workflow_id: str) -> str: ...


def decider(
    placement: Placement,
    workflow: WorkflowDefinition | None,
    run_id: str,
    events: list[dict[str, Any]],
    committer: Committer,
    fresh: dict[str, Any] | None,
    reset: Reset | None,
    freed: int,
) -> tuple[Callable[[RunRecord], Change | None], list[Committed]]:
    """The ``change`` a storage applies to the run as committed, and where it leaves its decision.

    The storage may call ``change`` more than once (another commit came
    first); the list holds the decision of the call that was written.
    """
    decided: list[Committed] = []

    def change(record: RunRecord) -> Change | None:
        decided.clear()
        _check_definition(workflow, run_id, record)
        held = held_start(workflow, record, events, placement.queue_for(ADMIT, committer, record.workflow_id))
        if held is not None:  # over its workflow's limit: created pending, admitted later
            decided.append(Committed(decision=held[1], rows=held[2]))
            return held[0]
        base = replace(record, **fresh) if fresh else record
        decision = _planned(placement, workflow, run_id, base, events)
        if decision is None:
            return None
        decision.record = evolve(base, **decision.run, version=record.version + 1)
        rows = task_rows(placement, workflow, decision, committer, events[-1]["now"], freed)
        decided.append(Committed(decision=decision, rows=rows))
        return Change(
            run={**(fresh or {}), **decision.run},
            steps=decision.steps,
            events=decision.events,
            tasks=rows,
            reset="cancel" if decision.cancels else reset,
            waits=decision.waits,
        )

    return change, decided


def _check_definition(workflow: WorkflowDefinition | None, run_id: str, record: RunRecord) -> None:
    """A run goes on only with the definition it started with (an unknown one is not checked)."""
    if workflow is not None and record.definition_hash and record.definition_hash != workflow.definition_hash:
        raise DefinitionMismatchError(
            f"Run {run_id} was started with definition {record.definition_hash} of "
            f"{workflow.id!r}; this process has {workflow.definition_hash}"
        )


def _planned(
    placement: Placement,
    workflow: WorkflowDefinition | None,
    run_id: str,
    base: RunRecord,
    events: list[dict[str, Any]],
) -> Decision | None:
    """``plan`` applied to the run for each event in turn, as one decision; ``None``: nothing to do."""
    state, actions = base.run_state, []
    steps = Rows(placement.storage, run_id, base.input)  # the step rows as this decision sees them
    for event in events:
        state, more = plan(
            workflow,
            state,
            event,
            max_loop_iterations=placement.options["max_loop_iterations"],
            rows=steps,
        )
        actions += more
    return decide(state, actions) if actions else None


def task_rows(
    placement: Placement,
    workflow: WorkflowDefinition | None,
    decision: Decision,
    committer: Committer,
    now: int,
    freed: int,
) -> list[TaskRow]:
    """The task rows a decision owes; its committer takes what it can run for itself at once.

    Steps and flow decisions go to the committer up to what it has room for
    (counting the slots of the tasks this commit completes; nothing when it
    is stopping); the rest wait in the queue. Timers wait until due. A run
    that settled owes its callbacks, which the committer runs right after the
    commit.
    """
    budget = committer.claimable(freed)
    workflow_id = decision.record.workflow_id if decision.record is not None else ""
    rows = []
    for key, task in decision.runs:
        kind = task["kind"]
        row = TaskRow(key, task["handout"], kind, placement.queue_for(kind, committer, workflow_id))
        row = gated(row, workflow, decision.state, task)
        if (budget is None or budget > 0) and not row.gate.limit_key:
            budget = None if budget is None else budget - 1
            row = replace(row, owner=committer.id, lease_ms=placement.lease_ms)
        rows.append(row)
    for key, due, number in decision.timers:
        queue = placement.queue_for(TIMER, committer, workflow_id)
        rows.append(TaskRow(key, number, TIMER, queue, delay_ms=max(0, due - now)))
    for key, number in decision.matches:
        rows.append(TaskRow(key, number, MATCH, placement.queue_for(MATCH, committer, workflow_id)))
    if decision.settled and _owes_callbacks(workflow):
        version = decision.record.version if decision.record is not None else 0
        row = TaskRow(CALLBACKS, version, CALLBACKS, placement.queue_for(CALLBACKS, committer, workflow_id))
        # Without the definition here, a process that has it claims them from the queue.
        rows.append(
            row if workflow is None else replace(row, owner=committer.id, lease_ms=placement.lease_ms)
        )
    return rows


def _owes_callbacks(workflow: WorkflowDefinition | None) -> bool:
    """Whether a run that settles owes callbacks (an unknown definition may have some)."""
    return workflow is None or workflow.on_finish is not None or workflow.on_error is not None
