"""Running one claimed task: a step, a timer, a look for a kept event, or a run's callbacks.

What the worker hands here is a claim it holds; what comes back is the commit
of its outcome (``None``: nothing to commit, the row was dropped or released).
A step's outcome is committed with the other outcomes of its run ready in this
process (:meth:`Pipeline.acommit_outcome`); a stale row (the run moved on
since it was written) is dropped without running anything.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core import tracing
from ..core._execution import TaskScope, run_task
from ..core.clock import now_ms
from ..core.context import AbortSignal
from ..core.errors import WorkflowError, serialize_error
from ..core.limits import ADMIT
from ..core.storage import CALLBACKS, MATCH, TIMER, Claim
from .admission import aadmit
from .faults import crash_point
from .matching import amatch

if TYPE_CHECKING:
    from ..core.graph import WorkflowDefinition
    from ..core.storage import RunRecord
    from ._commits import Committed, Committer
    from ._pipeline import Pipeline

# The worker's logger (docs/operations.md): what happens to a task is the worker's story.
logger = logging.getLogger("workflows_app.engines.worker")


class TaskLostError(WorkflowError):
    """A step was handed to workers too many times without one finishing it."""


@dataclass
class Held:
    """A claim this worker holds: the asyncio task working on it and the step's abort signal."""

    claim: Claim
    job: asyncio.Task[None]
    signal: AbortSignal | None = None
    lost: bool = False


class TaskRunner:
    """Runs the tasks a worker claimed, committing their outcomes as ``committer``."""

    def __init__(
        self, engine: Pipeline, committer: Committer, held: dict[tuple[str, str, int, int], Held]
    ) -> None:
        self.engine = engine
        self.storage = engine.storage
        self.options = engine.options
        self.committer = committer
        self.held = held

    async def awork(self, workflow: WorkflowDefinition, record: RunRecord, claim: Claim) -> Committed | None:
        """Do what the claimed row owes and commit its outcome (``None``: nothing to commit)."""
        if claim.kind == CALLBACKS:
            if self.exhausted(claim):
                logger.error(
                    "Giving up the callbacks of run %s: handed to workers %d times, and each stopped "
                    "before they returned (a callback that kills its worker?)",
                    claim.run_id,
                    claim.deliveries,
                )
                await self.storage.adrop([claim])
                return None
            await self.engine.arun_callbacks(workflow, claim, record)
            return None
        if claim.kind == MATCH:
            return await amatch(self.engine, workflow, record, claim, self.committer)
        if claim.kind == ADMIT:
            return await aadmit(self.engine, workflow, record, claim, self.committer)
        if claim.kind == TIMER:
            event = {"type": "timer", "key": claim.key, "handout": claim.handout, "now": now_ms()}
            return await self.engine.acommit(
                workflow, claim.run_id, [event], committer=self.committer, fences=[claim], known=record
            )
        task = record.run_state.get("tasks", {}).get(claim.key)
        if record.status != "running" or task is None or task.get("handout") != claim.handout:
            await self.storage.adrop([claim])  # stale: the run moved on since this row was written
            return None
        outcome = await self.aoutcome(workflow, record, claim, task)
        if outcome is None:
            return None
        crash_point("after-step", task.get("path", ""))
        event = {
            "type": "task-done",
            "key": claim.key,
            "handout": claim.handout,
            "outcome": outcome,
            "now": now_ms(),
        }
        return await self.engine.acommit_outcome(
            workflow, claim, event, known=record, committer=self.committer
        )

    async def aoutcome(
        self, workflow: WorkflowDefinition, record: RunRecord, claim: Claim, task: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The task's outcome; ``None`` if it was stopped (its row is dropped then)."""
        if self.exhausted(claim):
            lost = TaskLostError(
                f"Step {task.get('path', claim.key)!r} was handed to workers {claim.deliveries} times "
                "without one finishing it (each time its worker stopped renewing its lease)"
            )
            return {"status": "failed", "error": serialize_error(lost), "non_retryable": True}
        crash_point("after-claim", task.get("path", ""))
        scope = TaskScope.of(
            record.run_state,
            run_id=record.run_id,
            workflow_id=workflow.id,
            resource_id=record.resource_id,
            run_input=record.input,
        )
        held = self.held.get(claim.fence)
        if held is not None:
            held.signal = scope.abort_signal
        with tracing.step_span(record, workflow.id, task) as span:  # current in the step's task
            step = asyncio.ensure_future(
                run_task(workflow, record.run_state, task, scope, Environment(self.engine, record.run_id))
            )
            try:
                outcome = await step
            except asyncio.CancelledError:
                if step.cancelled() and not cancelling():
                    await self.storage.adrop([claim])
                    return None
                raise
            tracing.step_ended(span, outcome)
        error = outcome.pop("exception", None)
        if error is not None and task["kind"] == "step":
            self.engine.errors.keep(record.run_id, task["path"], error)
        return outcome

    def exhausted(self, claim: Claim) -> bool:
        """Whether the task's leases expired more than ``max_deliveries`` times (its workers died)."""
        return claim.deliveries > int(self.options["max_deliveries"])


class Environment:
    """The engine side of a running step: step outputs and the run's event log."""

    def __init__(self, engine: Pipeline, run_id: str) -> None:
        self.engine = engine
        self.run_id = run_id

    async def get_step_output(self, path: str) -> Any:
        row = await self.engine.storage.aget_step(self.run_id, path)
        return row.output if row is not None and row.status == "success" else None

    async def emit(self, event: dict[str, Any]) -> None:
        await self.engine.aemit(self.run_id, {**event, "run_id": self.run_id})


def cancelling() -> bool:
    task = asyncio.current_task()
    return bool(task is not None and task.cancelling())
