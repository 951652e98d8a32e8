"""``/schedules``: cron schedules of workflows, made, changed, paused, resumed and deleted.

Every change goes through :mod:`workflows_app.schedules`, which checks it (the
same rules as the admin); views only translate. Permissions are the Django
model permissions of ``WorkflowSchedule`` (view, add, change, delete).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from ninja import Router, Status

from .. import schedules
from ..models import WorkflowSchedule
from .auth import arequire, caller
from .schemas import ProblemOut, ScheduleChangeIn, ScheduleIn, ScheduleOut

router = Router(tags=["schedules"])

_READ = {401: ProblemOut, 403: ProblemOut, 404: ProblemOut}
_CHANGE = {200: ScheduleOut, **_READ, 409: ProblemOut, 422: ProblemOut}


def describe(row: WorkflowSchedule) -> dict[str, Any]:
    """A schedule as the API shows it, with its next fire times."""
    return {
        "name": row.name,
        "workflow_id": row.workflow_id,
        "cron": row.cron,
        "timezone": row.timezone,
        "input": row.input,
        "catch_up": row.catch_up,
        "paused": row.paused,
        "declared": row.declared,
        "last_tick": row.last_tick,
        "next_fire_times": schedules.next_fire_times(row),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


@router.get("", response={200: list[ScheduleOut], 401: ProblemOut, 403: ProblemOut}, summary="List schedules")
async def list_schedules(request: HttpRequest, workflow_id: str | None = None) -> list[dict[str, Any]]:
    """Every schedule (of one workflow with `workflow_id`), by name, with its next fire times."""
    await arequire(caller(request), "view_schedule")
    rows = WorkflowSchedule.objects.order_by("name")
    if workflow_id is not None:
        rows = rows.filter(workflow_id=workflow_id)
    return [describe(row) async for row in rows]


@router.post(
    "",
    response={201: ScheduleOut, 401: ProblemOut, 403: ProblemOut, 409: ProblemOut, 422: ProblemOut},
    summary="Create a schedule",
)
async def create_schedule(request: HttpRequest, body: ScheduleIn) -> Status[dict[str, Any]]:
    """A schedule whose first tick is the first after now; the input is checked against the workflow."""
    await arequire(caller(request), "add_schedule")
    row = await sync_to_async(schedules.create_schedule)(**body.model_dump())
    return Status(201, describe(row))


@router.get("/{name}", response={200: ScheduleOut, **_READ}, summary="Get a schedule")
async def get_schedule(request: HttpRequest, name: str) -> dict[str, Any]:
    await arequire(caller(request), "view_schedule")
    return describe(await sync_to_async(schedules.get_schedule)(name))


@router.patch("/{name}", response=_CHANGE, summary="Change a schedule")
async def change_schedule(request: HttpRequest, name: str, body: ScheduleChangeIn) -> dict[str, Any]:
    """Change the cron expression, time zone, input or catch-up policy; the next tick follows the new rule.

    Schedules declared in code are changed in the code (409 `schedule-declared`).
    """
    await arequire(caller(request), "change_schedule")
    changes = body.model_dump(exclude_unset=True)
    row = await sync_to_async(schedules.get_schedule)(name)
    return describe(await sync_to_async(schedules.update_schedule)(row, **changes))


@router.post("/{name}/pause", response=_CHANGE, summary="Pause a schedule")
async def pause_schedule(request: HttpRequest, name: str) -> dict[str, Any]:
    """Stop firing; ticks that pass while paused are not caught up."""
    await arequire(caller(request), "change_schedule")
    row = await sync_to_async(schedules.get_schedule)(name)
    return describe(await sync_to_async(schedules.pause_schedule)(row))


@router.post("/{name}/resume", response=_CHANGE, summary="Resume a schedule")
async def resume_schedule(request: HttpRequest, name: str) -> dict[str, Any]:
    """Fire again, from the first tick after now."""
    await arequire(caller(request), "change_schedule")
    row = await sync_to_async(schedules.get_schedule)(name)
    return describe(await sync_to_async(schedules.resume_schedule)(row))


@router.delete("/{name}", response={204: None, **_READ, 409: ProblemOut}, summary="Delete a schedule")
async def delete_schedule(request: HttpRequest, name: str) -> Status[None]:
    """Delete a schedule made in the admin or here; declared ones are removed from the code (409)."""
    await arequire(caller(request), "delete_schedule")
    row = await sync_to_async(schedules.get_schedule)(name)
    await sync_to_async(schedules.delete_schedule)(row)
    return Status(204, None)
