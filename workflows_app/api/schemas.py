"""The request and response bodies of the REST API, as pydantic schemas.

They are the OpenAPI document: field descriptions here are what clients read,
so they say what a value means, not how it is computed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

JSONSchema = dict[str, Any]
MAX_WAIT_SECONDS = 300.0
DEFAULT_WAIT_SECONDS = 10.0


class WaitOptions(Schema):
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


class FailedAttemptOut(Schema):
    attempt: int = Field(description="Which try of the step it was, from 0.")
    error: dict[str, Any] | None = None
    started_at: int | None = Field(None, description="Epoch milliseconds.")
    ended_at: int | None = Field(None, description="Epoch milliseconds.")


# -- events -------------------------------------------------------------------------


class SendEventIn(Schema):
    name: str = Field(
        min_length=1, max_length=200, description="The event a step waits on (`suspend(event=)`)."
    )
    data: Any = Field(
        None, description="The waiting step's resume data, validated against its resume schema."
    )
    key: str | None = Field(
        None, max_length=200, description="The correlation key the steps wait on (`suspend(key=)`)."
    )


class SendRunEventIn(WaitOptions):
    name: str = Field(min_length=1, max_length=200, description="The event a step of the run waits on.")
    data: Any = Field(
        None, description="The waiting step's resume data, validated against its resume schema."
    )


class EventSentOut(Schema):
    name: str
    key: str | None = None
    run_ids: list[str] = Field(description="The runs whose waiting steps this event resumed.")
    kept: bool = Field(description="No step waited on it yet: it is kept for the first that suspends on it.")


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
    failed_attempts: list[FailedAttemptOut] = Field(
        default_factory=list, description="Earlier tries at this iteration that the retry policy retried."
    )
    retry_at: int | None = Field(
        None, description="For a step waiting to be tried again: when (epoch milliseconds)."
    )
    label: str | None = Field(None, description="For a suspended step: the label it suspended with.")
    waiting_for: dict[str, Any] | None = Field(
        None,
        description="For a suspended step waiting on an event or a deadline: `event`, `key` and "
        "`timeout_at` (epoch milliseconds), each `null` when not given.",
    )
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


# -- schedules ----------------------------------------------------------------------


class ScheduleIn(Schema):
    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description="Unique name: letters, digits and `_.:-`.",
    )
    workflow_id: str = Field(description="The registered workflow each tick starts a run of.")
    cron: str = Field(description="A five-field cron expression, e.g. `0 9 * * 1-5`.")
    timezone: str = Field("UTC", description="The IANA time zone the cron expression is read in.")
    input: Any = Field(None, description="The input of every run, checked against the workflow's schema.")
    catch_up: Literal["none", "one", "all"] = Field(
        "none", description="Ticks missed while nothing fired: skip them, one run for all, or one each."
    )
    paused: bool = False


class ScheduleChangeIn(Schema):
    cron: str | None = None
    timezone: str | None = None
    input: Any = None
    catch_up: Literal["none", "one", "all"] | None = None


class ScheduleOut(Schema):
    name: str
    workflow_id: str
    cron: str
    timezone: str
    input: Any = None
    catch_up: str
    paused: bool
    declared: bool = Field(description="Declared in the workflow's code: change it there, not here.")
    last_tick: datetime = Field(description="The last tick dealt with (fired, or skipped by catch-up).")
    next_fire_times: list[datetime] = Field(description="The next ticks it will fire (empty while paused).")
    created_at: datetime
    updated_at: datetime


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
        None, description="Field errors (422): `loc` (where), `message` and `type`."
    )
