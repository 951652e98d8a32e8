"""What the API shows of workflows and runs, built from definitions and stored records.

Runs are read through the engine's storage protocol (``aget_run``,
``aget_steps``); only what the protocol does not hold (who started a run) comes
from the ORM. Every value here is plain data, ready for the response schemas.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from ..core import runtime
from ..core.errors import RunNotFoundError
from ..core.graph import WorkflowDefinition, describe_entry, entry_components
from ..core.plan import find_target, suspended_paths, suspended_tasks
from ..core.results import failed_attempts
from ..core.storage import RunRecord, StepRecord
from ..core.workflow import Workflow
from ..models import WorkflowRun

RUN_SUMMARY_FIELDS = ("run_id", "workflow_id", "status", "resource_id", "created_at", "updated_at")


def schema_of(model: type[BaseModel] | None) -> dict[str, Any] | None:
    return model.model_json_schema() if model is not None else None


# -- workflows ----------------------------------------------------------------------


def describe_workflow(workflow: WorkflowDefinition) -> dict[str, Any]:
    return {
        "id": workflow.id,
        "description": workflow.description,
        "definition_hash": workflow.definition_hash,
        "input_schema": schema_of(workflow.input_schema),
        "output_schema": schema_of(workflow.output_schema),
        "state_schema": schema_of(workflow.state_schema),
        "steps": [_describe_step(path, component) for path, component in walk_steps(workflow)],
        "graph": [describe_entry(entry) for entry in workflow.entries],
    }


def _describe_step(path: str, component: Any) -> dict[str, Any]:
    return {
        "path": path,
        "component": component.component,
        "description": getattr(component, "description", "") or "",
        **{
            name: schema_of(getattr(component, name, None))
            for name in ("input_schema", "output_schema", "suspend_schema", "resume_schema")
        },
    }


def walk_steps(workflow: WorkflowDefinition, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every step of ``workflow`` with its dotted path, nested workflows' steps included."""
    seen: set[str] = set()
    for entry in workflow.entries:
        for component in entry_components(entry):
            if component.id in seen:
                continue
            seen.add(component.id)
            path = prefix + component.id
            yield path, component
            if isinstance(component, Workflow):
                yield from walk_steps(component, path + ".")


def component_at(workflow: WorkflowDefinition, path: str) -> Any:
    """The step (or nested workflow) at a dotted path, or ``None``."""
    return find_target(workflow, path.split("."))


# -- runs ---------------------------------------------------------------------------


# A run that commits faster than it can be read is answered after this many tries as it was last seen.
_CONSISTENT_READ_TRIES = 5


async def arun_detail(run_id: str) -> dict[str, Any]:
    """The run with its steps, as ``RunOut``, as of one commit (see :func:`aread_consistent`)."""
    record, rows = await aread_consistent(run_id)
    owner = (
        await WorkflowRun.objects.filter(pk=run_id).values_list("started_by__username", flat=True).afirst()
    )
    workflow = runtime.registered_workflows().get(record.workflow_id)
    return {
        **{name: getattr(record, name) for name in RUN_SUMMARY_FIELDS},
        "started_by": owner,
        "engine": record.engine,
        "version": record.version,
        "input": record.input,
        "result": record.result,
        "error": record.error,
        "state": record.state,
        "request_context": record.request_context,
        "suspended": suspended_paths(record.run_state) if record.status == "suspended" else [],
        "steps": list(_steps(record, rows, workflow)),
    }


async def aread_consistent(run_id: str) -> tuple[RunRecord, list[StepRecord]]:
    """The run's record and its step rows as one commit left them.

    The run may be moving while it is read (a run started without ``wait`` goes
    on in the background): the record and the rows are two reads, and without a
    check an answer could show ``pending`` at version 0 beside steps that already
    ran. Every commit bumps ``version``, so rows read between two reads of the
    same version belong to that version.
    """
    storage = runtime.get_storage()
    record = await storage.aget_run(run_id)
    for _ in range(_CONSISTENT_READ_TRIES):
        if record is None:
            break
        rows = await storage.aget_steps(run_id)
        again = await storage.aget_run(run_id)
        if again is not None and again.version == record.version:
            return record, rows
        record = again
    if record is None:
        raise RunNotFoundError(f"Workflow run {run_id!r} not found")
    return record, await storage.aget_steps(run_id)


def _steps(
    record: RunRecord, rows: list[StepRecord], workflow: WorkflowDefinition | None
) -> Iterator[dict[str, Any]]:
    """The current record of each step (and foreach item), in the order they started.

    The current record of a coordinate is its latest loop iteration, then its
    latest try; ``attempts`` counts the tries of that iteration.
    """
    current: dict[tuple[str, int | None], StepRecord] = {}
    tries: dict[tuple[str, int | None, int], int] = {}
    for row in rows:
        key = (row.path, row.foreach_index)
        tries[(*key, row.iteration)] = tries.get((*key, row.iteration), 0) + 1
        seen = current.get(key)
        if seen is None or (row.iteration, row.attempt) >= (seen.iteration, seen.attempt):
            current[key] = row
    suspensions = _suspensions(record)
    for key, row in current.items():
        step = _step(row, tries[(*key, row.iteration)])
        step["failed_attempts"] = failed_attempts(row, rows)
        if row.status == "suspended":
            component = component_at(workflow, row.path) if workflow is not None else None
            step["resume_schema"] = schema_of(getattr(component, "resume_schema", None))
            task = suspensions.get(key, {})
            step["label"] = task.get("label") if record.status == "suspended" else None
            step["waiting_for"] = _waiting_for(task)
        yield step


def _step(row: StepRecord, attempts: int) -> dict[str, Any]:
    ended = row.ended_at is not None and row.started_at is not None
    return {
        "path": row.path,
        "foreach_index": row.foreach_index,
        "iteration": row.iteration,
        "attempt": row.attempt,
        "attempts": attempts,
        "status": row.status,
        "payload": row.payload,
        "output": row.output,
        "error": row.error,
        "suspend_payload": row.suspend_payload,
        "resume_payload": row.resume_payload,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "suspended_at": row.suspended_at,
        "resumed_at": row.resumed_at,
        "duration_ms": row.ended_at - row.started_at if ended else None,  # type: ignore[operator]
        "retry_at": (row.metadata or {}).get("retry_at") if row.status == "waiting" else None,
    }


def _suspensions(record: RunRecord) -> dict[tuple[str, int | None], dict[str, Any]]:
    """The run's suspended tasks by step coordinate."""
    return {(task["path"], task.get("fe")): task for _, task in suspended_tasks(record.run_state)}


def _waiting_for(task: dict[str, Any]) -> dict[str, Any] | None:
    """The event a suspended step waits on and its deadline, if it has either."""
    wait, deadline = task.get("wait"), task.get("deadline")
    if not wait and not deadline:
        return None
    return {
        "event": (wait or {}).get("event"),
        "key": (wait or {}).get("key"),
        "timeout_at": (deadline or {}).get("at"),
    }
