"""``/workflows``: the registered workflows, and starting a run of one."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Router, Status
from ninja.params import HeaderEx, P

from ..core import runtime
from ..quotas import astart_retry_after, rate_limited_message
from . import operations
from .auth import arequire, caller
from .errors import ApiError
from .representations import arun_detail, describe_workflow
from .schemas import ProblemOut, RunOut, StartRunIn, WorkflowOut

router = Router(tags=["workflows"])


@router.get("", response={200: list[WorkflowOut], 401: ProblemOut}, summary="List the workflows")
def list_workflows(request: HttpRequest) -> list[dict[str, Any]]:
    """Every registered workflow with its JSON schemas and its graph.

    Schemas: input, output and state of the workflow; input, output, suspend and
    resume of each step.
    """
    workflows = runtime.registered_workflows()
    return [describe_workflow(workflows[key]) for key in sorted(workflows)]


@router.get(
    "/{workflow_id}", response={200: WorkflowOut, 401: ProblemOut, 404: ProblemOut}, summary="Get a workflow"
)
def get_workflow(request: HttpRequest, workflow_id: str) -> dict[str, Any]:
    return describe_workflow(runtime.get_workflow(workflow_id))


@router.post(
    "/{workflow_id}/runs",
    response={
        201: RunOut,
        400: ProblemOut,
        401: ProblemOut,
        403: ProblemOut,
        404: ProblemOut,
        409: ProblemOut,
        422: ProblemOut,
        429: ProblemOut,
    },
    summary="Start a run",
)
async def start_run(
    request: HttpRequest,
    workflow_id: str,
    body: StartRunIn,
    response: HttpResponse,
    idempotency_key: HeaderEx[str | None, P(alias="Idempotency-Key", min_length=1, max_length=255)] = None,
) -> Status[dict[str, Any]]:
    """Validate the input, store the run and set it going.

    Answers at once with the run as stored (status `pending` or `running`), or with
    `wait`, once the run finished or suspended (or `timeout` passed). The run
    belongs to the caller. With an `Idempotency-Key` header, a retried request
    answers with the run the first one started (started once); the same key with
    other input is a 409 `idempotency-conflict`. 429 when the caller started as many runs as the
    `START_RATE_LIMIT` setting allows in its period; `Retry-After` says when to try again.
    """
    workflow = runtime.get_workflow(workflow_id)
    await arequire(caller(request), "start")
    retry_after = await astart_retry_after(caller(request))
    if retry_after is not None:
        raise ApiError(
            429, "rate-limited", rate_limited_message(retry_after), headers={"Retry-After": str(retry_after)}
        )
    run_id = await operations.aoutlive(
        request, operations.astart(workflow, caller(request), body, idempotency_key=idempotency_key)
    )
    response["Location"] = reverse("workflows_api:get_run", kwargs={"run_id": run_id})
    return Status(201, await arun_detail(run_id))
