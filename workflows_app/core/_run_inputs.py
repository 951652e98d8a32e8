"""What a run starts or resumes with, validated before anything is stored.

A run's input, initial state and request context, and the data a resume hands
to suspended steps, are checked against the workflow's schemas and turned into
their stored (JSON) form here, so that a bad value fails in the caller and
never reaches a commit.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from .clock import now_ms
from .errors import InputValidationError, ResumeDataValidationError, WorkflowError
from .payloads import plain
from .plan import find_resume_targets, new_state, task_component
from .storage import RunRecord
from .tracing import start_context
from .validation import validate

if TYPE_CHECKING:
    from .engine import RunHandle
    from .graph import WorkflowDefinition


def new_record(
    run: RunHandle, input_data: Any, initial_state: Any, request_context: Any, per_step: bool
) -> tuple[RunRecord, dict[str, Any]]:
    """The run to create and its ``start`` event; nothing is stored yet.

    The run is created by the commit that starts it.
    """

    workflow = run.workflow
    workflow.check_runnable()
    data = plain(input_data, what="the input data")
    if workflow.validate_inputs:
        data = stored_form(validate(workflow.input_schema, data, InputValidationError))
    state = stored_form(
        validate(
            workflow.state_schema,
            plain(initial_state or {}, what="the initial state"),
            InputValidationError,
        )
    )
    context = dict(plain(request_context or {}, what="the request context"))
    record = RunRecord(
        run_id=run.run_id,
        workflow_id=workflow.id,
        resource_id=run.resource_id,
        input=data,
        run_state=new_state(run.run_id, per_step=per_step),
        request_context=context,
        state=state,
        definition_hash=workflow.definition_hash,
        engine=run.engine_name,
        owner=run.owner,
        trace_context=start_context(workflow.id, run.run_id),
    )
    event = {"type": "start", "input": data, "state": state, "context": context, "now": now_ms()}
    return record, event


def resume_event(
    workflow: WorkflowDefinition,
    record: RunRecord,
    resume_data: Any,
    step: Any,
    label: str | None,
    for_each_index: int | None,
    request_context: Any,
) -> dict[str, Any]:
    """The ``resume`` event for the suspended steps chosen, its data checked against their schema."""
    keys = find_resume_targets(record.run_state, step=step, label=label, for_each_index=for_each_index)
    task = record.run_state["tasks"][keys[0]]
    component = task_component(workflow.nested_workflows(), record.run_state, task)
    data = plain(resume_data, what="the resume data")
    data = stored_form(validate(component.resume_schema, data, ResumeDataValidationError))
    event = {
        "type": "resume",
        "keys": keys,
        "data": data,
        "context": dict(plain(request_context or {}, what="the request context")),
        "now": now_ms(),
    }
    return event


# Runs started with an idempotency key have ids derived from it: the primary key is the
# unique constraint that makes racing starts with one key create one run.
_IDEMPOTENCY_NAMESPACE = uuid.UUID("9a4f2c1e-6b0d-4f57-8a53-3c8e2d7b1f60")
MAX_IDEMPOTENCY_KEY = 255


def keyed_run_id(workflow_id: str, run_id: str | None, key: str) -> str:
    """The id of the run of ``workflow_id`` that ``key`` starts (the same for every caller)."""
    if not isinstance(key, str) or not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise WorkflowError(
            f"An idempotency key is a non-empty string of at most {MAX_IDEMPOTENCY_KEY} characters"
        )
    if run_id is not None:
        raise WorkflowError("Give either a run id or an idempotency key, not both")
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{workflow_id}\x00{key}"))


def stored_form(validated: Any) -> Any:
    """Data a schema validated, in the JSON form it is stored in (datetimes as text, as pydantic has it)."""
    return plain(validated, what="the validated data", limited=False)
