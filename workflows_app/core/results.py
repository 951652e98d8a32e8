"""Run and step results as users see them, built from stored rows.

A result is always rebuilt from storage (the rows of the run), so the same call
gives the same answer in the process that ran the steps and in any other one.
Live exception objects, when the caller still has them, replace their stored
form so that ``isinstance`` checks and custom attributes keep working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import restore_error, serialize_error
from .plan import suspended_paths
from .storage import RunRecord, StepRecord, latest_steps

_STEP_KEYS = (
    "status",
    "payload",
    "output",
    "error",
    "suspend_payload",
    "resume_payload",
    "suspend_output",
    "started_at",
    "ended_at",
    "suspended_at",
    "resumed_at",
    "metadata",
    "failed_attempts",
)


@dataclass
class StepResult:
    """The current record of one step in a run."""

    status: str
    payload: Any = None
    output: Any = None
    error: Any = None
    suspend_payload: Any = None
    resume_payload: Any = None
    suspend_output: Any = None
    started_at: int | None = None
    ended_at: int | None = None
    suspended_at: int | None = None
    resumed_at: int | None = None
    metadata: dict[str, Any] | None = None
    failed_attempts: list[dict[str, Any]] | None = None  # earlier attempts that the policy retried

    def to_dict(self) -> dict[str, Any]:
        """The record with its unset fields left out, as the spec compares them."""
        data = {name: getattr(self, name) for name in _STEP_KEYS}
        if isinstance(self.error, BaseException):
            data["error"] = serialize_error(self.error)
        return {key: value for key, value in data.items() if value is not None}


@dataclass
class WorkflowResult:
    """What ``start``, ``resume``, ``restart`` and ``time_travel`` return."""

    status: str
    steps: dict[str, StepResult | Any] = field(default_factory=dict)
    input: Any = None
    result: Any = None
    error: dict[str, Any] | None = None
    suspended: list[list[str]] = field(default_factory=list)
    state: dict[str, Any] | None = None
    tripwire: dict[str, Any] | None = None
    run_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "steps":
                value = {k: v.to_dict() if isinstance(v, StepResult) else v for k, v in value.items()}
            if (value is not None and value != []) or item.name in ("status", "steps"):
                data[item.name] = value
        return data


def step_result(
    row: StepRecord,
    exceptions: Mapping[str, BaseException] | None = None,
    rows: Sequence[StepRecord] = (),
) -> StepResult:
    """The result of the step ``row`` is the current record of; ``rows`` hold its earlier attempts."""
    error: Any = row.error
    if error is not None:
        live = _live_error(row.path, error, exceptions or {})
        error = live if live is not None else restore_error(error)
    return StepResult(
        status=row.status,
        payload=row.payload,
        output=row.output,
        error=error,
        suspend_payload=row.suspend_payload,
        resume_payload=row.resume_payload,
        suspend_output=row.suspend_output,
        started_at=row.started_at,
        ended_at=row.ended_at,
        suspended_at=row.suspended_at,
        resumed_at=row.resumed_at,
        metadata=row.metadata,
        failed_attempts=failed_attempts(row, rows) or None,
    )


def failed_attempts(row: StepRecord, rows: Sequence[StepRecord]) -> list[dict[str, Any]]:
    """The failed attempts before ``row`` at its coordinate (each one the policy retried).

    Oldest first, each with its number, stored error and timings: what the retry
    policy did is part of the step's result, not only of the logs.
    """
    if row.attempt == 0:
        return []
    earlier = [
        other
        for other in rows
        if (other.path, other.foreach_index, other.iteration) == (row.path, row.foreach_index, row.iteration)
        and other.attempt < row.attempt
        and other.status == "failed"
    ]
    return [
        {
            "attempt": other.attempt,
            "error": other.error,
            "started_at": other.started_at,
            "ended_at": other.ended_at,
        }
        for other in sorted(earlier, key=lambda other: other.attempt)
    ]


def build_result(
    run: RunRecord,
    rows: list[StepRecord],
    *,
    include_state: bool = False,
    exceptions: Mapping[str, BaseException] | None = None,
) -> WorkflowResult:
    """The run's result: top-level step records plus the ``input`` pseudo-entry."""
    current = latest_steps(rows)
    steps: dict[str, StepResult | Any] = {"input": run.input}
    for path, row in current.items():
        if "." not in path:
            steps[path] = step_result(row, exceptions, rows)
    result = WorkflowResult(status=run.status, steps=steps, input=run.input, run_id=run.run_id)
    if run.status == "success":
        result.result = run.result
    elif run.status == "failed":
        result.error = run.error
    elif run.status == "suspended":
        result.suspended = suspended_paths(run.run_state)
    elif run.status == "tripwire":
        result.tripwire = run.run_state.get("tripwire")
    if include_state:
        result.state = run.state
    return result


def _live_error(
    path: str, stored: dict[str, Any], exceptions: Mapping[str, BaseException]
) -> BaseException | None:
    """The exception object behind a stored error, if this process still holds it.

    A nested workflow fails with the error of the step inside it that failed, so
    its row is matched to that step's exception too.
    """
    if path in exceptions:
        return exceptions[path]
    prefix = path + "."
    for inner, error in exceptions.items():
        if inner.startswith(prefix) and serialize_error(error) == stored:
            return error
    return None
