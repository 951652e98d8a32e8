"""The request and response bodies of the REST API, as pydantic schemas.

They are the OpenAPI document: field descriptions here are what clients read,
so they say what a value means, not how it is computed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema
from pydantic import ConfigDict

JSONSchema = dict[str, Any]
MAX_WAIT_SECONDS = 300.0
DEFAULT_WAIT_SECONDS = 10.0


class WaitOptions(Schema):
    """Options of the operations that set a run going; the base of every request body.

    Unknown fields are refused (400, ``unknown-fields``), so that a misspelt
    option is told, not silently left at its default.
    """

    model_config = ConfigDict(extra="forbid")

    wait: bool = Field(
        False,
        description="Answer once the run is finished or suspended instead of as soon as it is accepted.",
    )
    timeout: float = Field(
        DEFAULT_WAIT_SECONDS,
        gt=0,
        le=MAX_WAIT_SECONDS,
        description="With `wait`, the longest time to wait, in seconds; the run goes on afterwards.",
    )


# -- workflows ----------------------------------------------------------------------


class StepSchemaOut(Schema):
    path: str = Field(description="Dotted path of step ids from the workflow, e.g. `outer.inner`.")
    component: str = Field(description="STEP, TOOL, AGENT, MAPPING or WORKFLOW (a nested workflow).")
    description: str = ""
    input_schema: JSONSchema | None = None
    output_schema: JSONSchema | None = None
    suspend_schema: JSONSchema | None = None
    resume_schema: JSONSchema | None = None


class WorkflowOut(Schema):
    id: str
    description: str = ""
    definition_hash: str
    input_schema: JSONSchema | None = None
    output_schema: JSONSchema | None = None
    state_schema: JSONSchema | None = None
    steps: list[StepSchemaOut] = Field(description="Every step, nested ones included, in graph order.")
    graph: list[dict[str, Any]] = Field(
        description="The entries of the workflow in order (step, parallel, conditional, loop, foreach, "
        "sleep), each with its steps; nested workflows carry their own `graph`."
    )


# -- runs ---------------------------------------------------------------------------


class StartRunIn(WaitOptions):
    input_data: Any = Field(None, description="The workflow input, validated against its input schema.")
    initial_state: dict[str, Any] | None = Field(None, description="The starting workflow state.")
    resource_id: str | None = Field(None, max_length=200, description="What the run is about, for filtering.")
    request_context: dict[str, Any] | None = Field(None, description="Values steps read from their context.")


class ResumeRunIn(WaitOptions):
    resume_data: Any = Field(None, description="Validated against the resume schema of the step resumed.")
    step: str | list[str] | None = Field(
        None,
        description="The suspended step to resume: an id, a dotted path or a list of ids. "
        "May be left out when exactly one step is suspended.",
    )
    label: str | None = Field(None, description="Resume the step that suspended with this label.")
    for_each_index: int | None = Field(None, ge=0, description="Resume one item of a suspended foreach.")
    request_context: dict[str, Any] | None = None
    expected_version: int | None = Field(
        None,
        ge=0,
        description="The run `version` the client saw; a different stored version means the suspension "
        "it answers is stale (409).",
    )


class RestartRunIn(WaitOptions):
    pass


class StepOut(Schema):
    path: str = Field(description="Dotted path of step ids from the root workflow.")
    foreach_index: int | None = Field(None, description="The item of a foreach this record is about.")
    iteration: int = Field(0, description="Loop iteration, from 1 (0 outside loops).")
    attempt: int = Field(0, description="Which try of the step this record is, from 0.")
    attempts: int = Field(1, description="Tries of the step at this iteration so far.")
    status: str
    payload: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    suspend_payload: Any = None
    resume_payload: Any = None
    started_at: int | None = Field(None, description="Epoch milliseconds.")
    ended_at: int | None = Field(None, description="Epoch milliseconds.")
    suspended_at: int | None = Field(None, description="Epoch milliseconds.")
    resumed_at: int | None = Field(None, description="Epoch milliseconds.")
    duration_ms: int | None = None
    label: str | None = Field(None, description="For a suspended step: the label it suspended with.")
    resume_schema: JSONSchema | None = Field(
        None, description="For a suspended step: the JSON schema its resume data must match."
    )


class RunSummaryOut(Schema):
    run_id: str
    workflow_id: str
    status: str
    resource_id: str | None = None
    started_by: str | None = Field(None, description="Username of the user who started the run.")
    created_at: datetime
    updated_at: datetime


class RunOut(RunSummaryOut):
    engine: str
    version: int = Field(description="Changes with every stored change of the run; see `expected_version`.")
    input: Any = None
    result: Any = None
    error: dict[str, Any] | None = None
    state: dict[str, Any] | None = None
    request_context: dict[str, Any] | None = None
    suspended: list[list[str]] = Field(description="Id paths of the suspended steps, in graph order.")
    steps: list[StepOut]


class RunPageOut(Schema):
    items: list[RunSummaryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


# -- events -------------------------------------------------------------------------


class EventOut(Schema):
    seq: int = Field(description="Position in the run's log: grows by one per event, with no gap.")
    type: str
    run_id: str
    source: str = Field(alias="from", description="WORKFLOW, or USER for a step's own output.")
    payload: Any = None


class EventPageOut(Schema):
    events: list[EventOut]
    last_seq: int = Field(description="The seq to pass as `after` for the next page.")
    has_more: bool


class CsrfOut(Schema):
    csrf_token: str


class ProblemOut(Schema):
    """An RFC 9457 problem document (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str = ""
    instance: str = ""
    code: str = Field(description="A stable name for the problem, e.g. `stale-suspension`.")
    errors: list[dict[str, Any]] | None = Field(
        None, description="Field errors (400 unknown fields, 422): `loc` (where), `message` and `type`."
    )
