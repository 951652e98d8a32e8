"""``run.atime_travel()``: run a workflow again from a chosen step.

This module checks the request and gathers the history (the given ``context``,
``nested_steps_context`` and, for a run that exists, its stored rows); the walk
itself is ``plan``'s ``time-travel`` event (see :mod:`plan_travel`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import StepInputValidationError, StepNotFoundError, TimeTravelError
from .plan import new_state
from .plan_travel import find_target
from .storage import RunRecord, latest_steps
from .stored_runs import akeep_snapshot
from .targets import target_path
from .validation import validate

if TYPE_CHECKING:
    from .results import WorkflowResult
    from .run import Run

_ACTIVE = frozenset({"running", "waiting"})


async def atime_travel(
    run: Run,
    *,
    step: Any,
    input_data: Any = None,
    context: dict[str, Any] | None = None,
    nested_steps_context: dict[str, dict[str, Any]] | None = None,
    resume_data: Any = None,
    per_step: bool = False,
    include_state: bool = False,
) -> WorkflowResult:
    from .run import now_ms

    workflow = run.workflow
    workflow.check_runnable()
    target = target_path(step)
    component = find_target(workflow, target)
    if component is None:
        raise StepNotFoundError(
            f"Time travel target step {'.'.join(target)!r} was not found in workflow {workflow.id!r}"
        )
    if input_data is not None and workflow.validate_inputs:
        input_data = validate(component.input_schema, input_data, StepInputValidationError)
    record = await run.storage.aget_run(run.run_id)
    if record is not None and record.status in _ACTIVE:
        raise TimeTravelError("This workflow run is still running and cannot be time traveled")
    if record is not None:
        await akeep_snapshot(workflow, run.storage, record)
    history = await _history(run, record)
    history.update(_flatten(context, nested_steps_context))
    record = await _reset(run, record, per_step)
    event: dict[str, Any] = {
        "type": "time-travel",
        "target": target,
        "context": {path: row for path, row in history.items() if row.get("status") == "success"},
        "resume": resume_data,
        "resume_paths": [path for path, row in history.items() if row.get("status") == "suspended"],
        "state": record.state,
        "context_values": record.request_context,
        "run_input": record.input,
        "now": now_ms(),
    }
    if input_data is not None:
        event["input"] = input_data
    await run.engine.aexecute(run, event, expected_version=record.version)
    return await run.aresult(include_state=include_state)


async def _history(run: Run, record: RunRecord | None) -> dict[str, dict[str, Any]]:
    if record is None:
        return {}
    rows = latest_steps(await run.storage.aget_steps(run.run_id))
    return {
        path: {
            "status": row.status,
            "payload": row.payload,
            "output": row.output,
            "started_at": row.started_at,
            "ended_at": row.ended_at,
        }
        for path, row in rows.items()
    }


def _flatten(
    context: dict[str, Any] | None, nested: dict[str, dict[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    flat = {path: dict(row) for path, row in (context or {}).items()}
    for workflow_id, steps in (nested or {}).items():
        for step_id, row in steps.items():
            flat[f"{workflow_id}.{step_id}"] = dict(row)
    for row in flat.values():
        row.setdefault("status", "success")
    return flat


async def _reset(run: Run, record: RunRecord | None, per_step: bool) -> RunRecord:
    """The run row to travel in: a new one, or the stored one with a fresh run state."""
    state = new_state(run.run_id, per_step=per_step)
    if record is None:
        record = RunRecord(
            run_id=run.run_id,
            workflow_id=run.workflow.id,
            resource_id=run.resource_id,
            run_state=state,
            definition_hash=run.workflow.definition_hash,
            engine=run.engine_name,
        )
        await run.storage.acreate_run(record)
        return record
    await run.storage.acommit(
        run.run_id,
        run={
            "run_state": state,
            "status": "pending",
            "generation": record.generation + 1,
            "result": None,
            "error": None,
        },
        expected_version=record.version,
    )
    record.version += 1
    record.run_state = state
    return record
