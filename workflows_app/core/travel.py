"""``run.atime_travel()``: run a workflow again from a chosen step.

This module checks the request and gathers the history (the given ``context``,
``nested_steps_context`` and, for a run that exists, its stored rows); the walk
itself is ``plan``'s ``time-travel`` event (see :mod:`plan._travel`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .clock import now_ms
from .errors import StepInputValidationError, StepNotFoundError, TimeTravelError
from .graph import ParallelEntry, entry_components, entry_ids
from .payloads import plain
from .plan import BUSY, find_target, new_state, target_path
from .storage import RunRecord, latest_steps
from .stored_runs import akeep_snapshot
from .validation import validate

if TYPE_CHECKING:
    from .engine import RunHandle
    from .graph import WorkflowDefinition
    from .results import WorkflowResult


async def atime_travel(
    run: RunHandle,
    *,
    step: Any,
    input_data: Any = None,
    context: dict[str, Any] | None = None,
    nested_steps_context: dict[str, dict[str, Any]] | None = None,
    resume_data: Any = None,
    per_step: bool = False,
    include_state: bool = False,
) -> WorkflowResult:
    workflow = run.workflow
    workflow.check_runnable()
    target, component = _target(workflow, step)
    context = plain(context, what="the time travel context")
    nested_steps_context = plain(nested_steps_context, what="the nested steps context")
    resume_data = plain(resume_data, what="the resume data")
    input_data = plain(input_data, what="the input data")
    if input_data is not None and workflow.validate_inputs:
        validated = validate(component.input_schema, input_data, StepInputValidationError)
        input_data = plain(validated, what="the input data", limited=False)
    record = await run.storage.aget_run(run.run_id)
    if record is not None and record.status in BUSY:
        raise TimeTravelError("This workflow run is still running and cannot be time traveled")
    history = await _history(run, record)
    if input_data is not None:
        _synthesize(history, workflow, target, input_data, siblings=not per_step)
    given = _flatten(context, nested_steps_context)
    history.update(given)
    event = _travel_event(record, history, given, target, resume_data, input_data)
    await _acommit(run, record, event, new_state(run.run_id, per_step=per_step))
    return await run.aresult(include_state=include_state)


def _target(workflow: WorkflowDefinition, step: Any) -> tuple[list[str], Any]:
    """The target step's path and component (``StepNotFoundError`` if the workflow has none there)."""
    target = target_path(step)
    component = find_target(workflow, target)
    if component is None:
        raise StepNotFoundError(
            f"Time travel target step {'.'.join(target)!r} was not found in workflow {workflow.id!r}"
        )
    return target, component


def _travel_event(
    record: RunRecord | None,
    history: dict[str, dict[str, Any]],
    given: dict[str, dict[str, Any]],
    target: list[str],
    resume_data: Any,
    input_data: Any,
) -> dict[str, Any]:
    """The ``time-travel`` plan event: the target, the history that counts and the run's values."""
    event: dict[str, Any] = {
        "type": "time-travel",
        "target": target,
        "context": {path: row for path, row in history.items() if row.get("status") == "success"},
        "resume": resume_data,
        "resume_paths": [path for path, row in history.items() if row.get("status") == "suspended"],
        "state": record.state if record is not None else {},
        "context_values": record.request_context if record is not None else {},
        "run_input": _run_input(record, given),
        "now": now_ms(),
    }
    if input_data is not None:
        event["input"] = input_data
    return event


async def _acommit(
    run: RunHandle, record: RunRecord | None, event: dict[str, Any], state: dict[str, Any]
) -> None:
    """Apply the travel in one commit: creating the run, or restarting its state afresh."""
    workflow = run.workflow
    if record is None:  # a run that was never stored starts here, created by the travel's commit
        created = RunRecord(
            run_id=run.run_id,
            workflow_id=workflow.id,
            resource_id=run.resource_id,
            input=event["run_input"],
            run_state=state,
            definition_hash=workflow.definition_hash,
            engine=run.engine_name,
            owner=run.owner,
        )
        await run.engine.aexecute(run, event, create=created)
    else:  # the run's state starts afresh and its old work is dropped, in the travel's commit
        fresh = {"run_state": state, "generation": record.generation + 1, "result": None, "error": None}
        version = await akeep_snapshot(workflow, run.storage, record)
        await run.engine.aexecute(run, event, fresh=fresh, reset="drop", expected_version=version)


def _run_input(record: RunRecord | None, given: dict[str, dict[str, Any]]) -> Any:
    """The run's input: the stored run's, else the first given step's payload, else ``{}``."""
    if record is not None:
        return record.input
    first = next(iter(given.values()), None)
    return first.get("payload", {}) if first is not None else {}


def _synthesize(
    history: dict[str, dict[str, Any]],
    workflow: WorkflowDefinition,
    target: list[str],
    data: Any,
    *,
    siblings: bool,
) -> None:
    """History made up for a time travel given only the target's input (spec T, rule 2).

    Every entry before the target, at each level down to it, succeeded with
    ``{}`` unless the stored run says otherwise; the step just before the target
    gets ``data`` as its output (keeping a stored payload); the target's
    parallel siblings succeeded with ``{}`` from the same input.
    """
    level: Any = workflow
    scope = ""
    for depth, step_id in enumerate(target):
        entries = level.entries
        index = next(n for n, entry in enumerate(entries) if step_id in entry_ids(entry))
        for entry in entries[:index]:
            for sid in entry_ids(entry):
                history.setdefault(_join(scope, sid), {"status": "success", "payload": {}, "output": {}})
        last = depth == len(target) - 1
        before = entry_ids(entries[index - 1]) if index > 0 else ()
        if last and len(before) == 1:
            history[_join(scope, before[0])] = {**history[_join(scope, before[0])], "output": data}
        if last and siblings and isinstance(entries[index], ParallelEntry):
            sibling = {"status": "success", "payload": data, "output": {}}
            for sid in entry_ids(entries[index]):
                if sid != step_id:
                    history.setdefault(_join(scope, sid), dict(sibling))
        level = next(c for c in entry_components(entries[index]) if c.id == step_id)
        scope = _join(scope, step_id)


def _join(scope: str, step_id: str) -> str:
    return f"{scope}.{step_id}" if scope else step_id


async def _history(run: RunHandle, record: RunRecord | None) -> dict[str, dict[str, Any]]:
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
