"""Stored runs by id: their views (``workflow.aget_run`` / ``alist_runs``), and cancelling one.

A run is always stored while it is active: the engines continue it from storage.
What the run storage API *shows* is a view: status, steps (dotted paths for nested
steps), result, error and input. A workflow with ``should_persist_snapshot``
chooses which settled states it keeps:

- a run that has settled (suspended, paused, success, ...) in a state the
  workflow accepts shows as it is;
- otherwise it shows the last accepted state it left, which
  :func:`akeep_snapshot` copies into the run's ``snapshot`` column when a resume,
  a cancel or a time travel moves the run on;
- a run with no accepted state is not shown at all.

The workflow is asked when a view is read, so the decision needs no extra write at
the moment a run settles, on either engine.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import runtime
from .errors import RunNotFoundError, WorkflowError
from .plan import SETTLED, TERMINAL
from .results import step_result
from .storage import RunRecord, StepRecord, Storage, latest_steps

if TYPE_CHECKING:
    from .graph import WorkflowDefinition

VIEW_FIELDS = ("status", "steps", "result", "error", "input")


@dataclass
class StoredRun:
    """A run as stored, for inspection (``workflow.aget_run``, ``workflow.alist_runs``)."""

    run_id: str
    workflow_name: str
    resource_id: str | None
    status: str | None = None
    steps: dict[str, Any] | None = None
    result: Any = None
    error: Any = None
    input: Any = None
    created_at: Any = None
    updated_at: Any = None


@dataclass
class RunList:
    """One page of stored runs, and how many match in all."""

    runs: list[StoredRun] = field(default_factory=list)
    total: int = 0


def live_view(record: RunRecord, rows: Sequence[StepRecord]) -> dict[str, Any]:
    """The view of the run as it is now (``rows`` may be empty when steps are not wanted)."""
    return {
        "status": record.status,
        "steps": {path: _stored_step(row, rows) for path, row in latest_steps(rows).items()},
        "result": record.result,
        "error": record.error,
        "input": record.input,
    }


def _stored_step(row: StepRecord, rows: Sequence[StepRecord]) -> dict[str, Any]:
    data = step_result(row, rows=rows).to_dict()
    if row.status == "success":  # suspend-scoped fields end with the suspension
        data.pop("suspend_payload", None)
        data.pop("suspended_at", None)
    if row.error is not None:
        data["error"] = row.error
    return data


async def _aaccepts(workflow: WorkflowDefinition, view: dict[str, Any]) -> bool:
    """Ask the workflow whether it keeps this view of a settled run."""
    decide = workflow.should_persist_snapshot
    if decide is None:
        return True
    answer = decide({"workflow_status": view["status"], "step_results": view["steps"]})
    if inspect.isawaitable(answer):
        answer = await answer
    return bool(answer)


async def ashown_view(
    workflow: WorkflowDefinition, storage: Storage, record: RunRecord
) -> dict[str, Any] | None:
    """The view storage shows for ``record`` under the workflow's choice; ``None``: not shown."""
    if record.status in SETTLED:
        live = live_view(record, await storage.aget_steps(record.run_id))
        if await _aaccepts(workflow, live):
            return live
    return record.snapshot


async def akeep_snapshot(workflow: WorkflowDefinition, storage: Storage, record: RunRecord) -> int:
    """Before a settled run moves on, keep its view if the workflow accepts it.

    Returns the run's version after the write, for the compare-and-set of the
    change that moves the run on.
    """
    if workflow.should_persist_snapshot is None or record.status not in SETTLED:
        return record.version
    view = live_view(record, await storage.aget_steps(record.run_id))
    if not await _aaccepts(workflow, view):
        return record.version
    await storage.acommit(record.run_id, run={"snapshot": view}, expected_version=record.version)
    record.snapshot = view
    record.version += 1
    return record.version


def _stored(record: RunRecord, view: dict[str, Any], wanted: set[str], with_nested: bool) -> StoredRun:
    stored = StoredRun(
        run_id=record.run_id,
        workflow_name=record.workflow_id,
        resource_id=record.resource_id,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )
    for name in wanted & set(VIEW_FIELDS):
        setattr(stored, name, view[name])
    if stored.steps is not None and not with_nested:
        stored.steps = {path: step for path, step in stored.steps.items() if "." not in path}
    return stored


async def aget_stored_run(
    workflow: WorkflowDefinition, run_id: str, fields: Sequence[str] | None, with_nested: bool
) -> StoredRun | None:
    storage = runtime.get_storage()
    record = await storage.aget_run(run_id)
    if record is None or record.workflow_id != workflow.id:
        return None
    wanted = set(fields) if fields else set(VIEW_FIELDS)
    if workflow.should_persist_snapshot is not None:
        view = await ashown_view(workflow, storage, record)
    else:
        view = live_view(record, await storage.aget_steps(run_id) if "steps" in wanted else ())
    return _stored(record, view, wanted, with_nested) if view is not None else None


async def alist_stored_runs(
    workflow: WorkflowDefinition,
    *,
    status: str | None = None,
    limit: int | None = 50,
    offset: int = 0,
    **filters: Any,
) -> RunList:
    """Runs of ``workflow``, newest first; with ``should_persist_snapshot``, as shown.

    Such a workflow's views are decided per run, so its runs are filtered and paged
    here rather than in storage.
    """
    storage = runtime.get_storage()
    if workflow.should_persist_snapshot is None:
        records, total = await storage.alist_runs(
            workflow_id=workflow.id, status=status, limit=limit, offset=offset, **filters
        )
        return RunList([_stored(r, live_view(r, ()), {"status"}, True) for r in records], total)
    records, _ = await storage.alist_runs(workflow_id=workflow.id, limit=None, **filters)
    shown: list[StoredRun] = []
    for record in records:
        view = await ashown_view(workflow, storage, record)
        if view is not None and status in (None, view["status"]):
            shown.append(_stored(record, view, {"status"}, True))
    end = None if limit is None else offset + limit
    return RunList(shown[offset:end], len(shown))


async def acancel_by_id(run_id: str) -> str:
    """Cancel a stored run by id, whether or not this process has its workflow; its status after.

    What the admin and the REST API call: an operator may cancel a run from a
    process that does not serve its workflow (the definition was removed, or
    lives in another service). A run that already ended is left as it is.
    """
    storage = runtime.get_storage()
    record = await storage.aget_run(run_id)
    if record is None:
        raise RunNotFoundError(f"Workflow run {run_id!r} not found")
    if record.status in TERMINAL:
        return record.status
    try:
        workflow: WorkflowDefinition | None = runtime.get_workflow(record.workflow_id)
    except WorkflowError:
        workflow = None
    if workflow is not None:
        await akeep_snapshot(workflow, storage, record)
    await runtime.get_engine(record.engine).acancel_run(run_id, workflow)
    return "canceled"
