"""``/runs``: finding runs, reading them with their steps and events, and acting on them.

Actions go through the engine API (``Run.aresume`` / ``acancel`` / ``arestart``);
the answer is the run as stored afterwards.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from ninja import Body, Router
from ninja.params import HeaderEx, P, QueryEx

from ..core.plan import TERMINAL
from ..core.run import acancel_by_id
from ..models import RunStatus, WorkflowRun
from . import events, operations
from .auth import acheck_visible, arequire, avisible_runs, caller
from .errors import ApiError
from .representations import RUN_SUMMARY_FIELDS, arun_detail
from .schemas import (
    DEFAULT_WAIT_SECONDS,
    EventPageOut,
    ProblemOut,
    RestartRunIn,
    ResumeRunIn,
    RunOut,
    RunPageOut,
)

router = Router(tags=["runs"])

_ACTION = {200: RunOut, 401: ProblemOut, 403: ProblemOut, 404: ProblemOut, 409: ProblemOut, 422: ProblemOut}
_READ = {401: ProblemOut, 404: ProblemOut, 422: ProblemOut}


@router.get("", response={200: RunPageOut, **_READ}, summary="List runs")
async def list_runs(
    request: HttpRequest,
    workflow_id: str | None = None,
    status: RunStatus | None = None,
    resource_id: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    cursor: QueryEx[str | None, P(description="`next_cursor` of the previous page.")] = None,
    limit: QueryEx[int, P(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The runs the caller may see, newest first, one page at a time."""
    runs = await avisible_runs(caller(request))
    filters = {
        "workflow_id": workflow_id,
        "status": status,
        "resource_id": resource_id,
        "created_at__gte": _utc(created_after, "created_after"),
        "created_at__lte": _utc(created_before, "created_before"),
    }
    runs = runs.filter(**{key: value for key, value in filters.items() if value is not None})
    if cursor is not None:
        runs = _after(runs, cursor)
    rows = runs.order_by("-created_at", "-run_id").values(*RUN_SUMMARY_FIELDS, "started_by__username")
    page = [row async for row in rows[: limit + 1]]
    items = [{**row, "started_by": row.pop("started_by__username")} for row in page[:limit]]
    more = len(page) > limit
    return {"items": items, "next_cursor": _cursor(items[-1]) if more else None}


def _utc(moment: datetime | None, name: str) -> datetime | None:
    """``moment`` in UTC (naive: in the current time zone), as every database can compare it."""
    if moment is None:
        return None
    try:
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise _invalid("query", name, "Date out of range") from None


def _invalid(where: str, name: str, message: str) -> ApiError:
    error = {"loc": [where, name], "message": message, "type": "value_error"}
    return ApiError(422, "invalid-request", f"Invalid {name}.", errors=[error])


def _cursor(row: dict[str, Any]) -> str:
    raw = json.dumps([row["created_at"].isoformat(), row["run_id"]])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _after(runs: QuerySet[WorkflowRun], cursor: str) -> QuerySet[WorkflowRun]:
    """The runs after the cursor's in the list order, a keyset seek that an index serves."""
    try:
        created_text, run_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        created = _utc(datetime.fromisoformat(created_text), "cursor")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise _invalid("query", "cursor", "Not a cursor this API gave") from None
    return runs.filter(Q(created_at__lt=created) | Q(created_at=created, run_id__lt=str(run_id)))


@router.get(
    "/{run_id}", response={200: RunOut, **_READ}, summary="Get a run with its steps", url_name="get_run"
)
async def get_run(request: HttpRequest, run_id: str) -> dict[str, Any]:
    """The run, and the current record of each step: status, payload, output, error, timings and tries.

    A suspended step also shows its suspend payload, its label and the JSON schema
    its resume data must match.
    """
    await acheck_visible(caller(request), run_id)
    return await arun_detail(run_id)


@router.post("/{run_id}/resume", response=_ACTION, summary="Resume a suspended run")
async def resume_run(request: HttpRequest, run_id: str, body: ResumeRunIn) -> dict[str, Any]:
    """Run suspended steps again with `resume_data`.

    409 when the run is not suspended, the named step is not, the suspension the
    client answers is stale (`expected_version`), or another resume won the race;
    422 when the data does not match the step's resume schema. Nothing changes then.
    """
    await acheck_visible(caller(request), run_id)
    await arequire(caller(request), "resume")
    record = await operations.aload(run_id)
    if body.expected_version is not None and body.expected_version != record.version:
        raise ApiError(
            409,
            "stale-suspension",
            f"The run changed since version {body.expected_version} (it is at {record.version}); "
            "read it again and answer its current suspension.",
        )
    run = await operations.arun_for(record)
    resume = run.aresume(
        body.resume_data,
        step=body.step,
        label=body.label,
        for_each_index=body.for_each_index,
        request_context=body.request_context,
    )
    await operations.adrive(run_id, resume, wait=body.wait, timeout=body.timeout)
    return await arun_detail(run_id)


@router.post("/{run_id}/cancel", response=_ACTION, summary="Cancel a run")
async def cancel_run(request: HttpRequest, run_id: str) -> dict[str, Any]:
    """Cancel the run: running steps see their abort signal and the run ends as `canceled`.

    409 when the run already ended.
    """
    await acheck_visible(caller(request), run_id)
    await arequire(caller(request), "cancel")
    record = await operations.aload(run_id)
    if record.status in TERMINAL:
        raise ApiError(409, "run-finished", f"The run already ended as {record.status}.")
    await acancel_by_id(run_id)  # needs no definition of the workflow in this process
    return await arun_detail(run_id)


@router.post("/{run_id}/restart", response=_ACTION, summary="Restart a run whose process died")
async def restart_run(
    request: HttpRequest, run_id: str, body: Body[RestartRunIn | None] = None
) -> dict[str, Any]:
    """Continue a run left `running` by a process that died; 409 when the run is not running."""
    await acheck_visible(caller(request), run_id)
    await arequire(caller(request), "restart")
    options = body or RestartRunIn(wait=False, timeout=DEFAULT_WAIT_SECONDS)
    run = await operations.arun_for(await operations.aload(run_id))
    await operations.adrive(run_id, run.arestart(), wait=options.wait, timeout=options.timeout)
    return await arun_detail(run_id)


@router.get("/{run_id}/events", response={200: EventPageOut, **_READ}, by_alias=True, summary="Read events")
async def list_events(
    request: HttpRequest,
    run_id: str,
    after: QueryEx[int, P(ge=0, description="Only events with a greater seq.")] = 0,
    limit: QueryEx[int, P(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The run's stored events after `after`, in order."""
    await acheck_visible(caller(request), run_id)
    return await events.aread_page(run_id, after, limit)


_SSE = {
    "responses": {
        "200": {
            "description": "Server-Sent Events: `id` is the seq, `event` the type, `data` the event as JSON.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    }
}


@router.get("/{run_id}/events/stream", response=_READ, openapi_extra=_SSE, summary="Stream events")
async def stream_events(
    request: HttpRequest,
    run_id: str,
    after: QueryEx[int, P(ge=0, description="Only events with a greater seq.")] = 0,
    last_event_id: HeaderEx[int | None, P(alias="Last-Event-ID", ge=0)] = None,
) -> StreamingHttpResponse:
    """The run's events as Server-Sent Events, replayed then live, until the run ends.

    The stored events after `after` come first (or after `Last-Event-ID`, which a
    reconnecting browser sends), then live ones, in order, with no gap or duplicate.
    """
    await acheck_visible(caller(request), run_id)
    start = last_event_id if last_event_id is not None else after
    response = StreamingHttpResponse(events.asse_stream(run_id, start), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
