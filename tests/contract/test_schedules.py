"""Cron schedules on every engine: declared in code, synced to rows, fired once per tick, caught up.

The clock is the test's: ticks are years ahead of the real one, so that no
worker's own sweeper fires them; the test fires them with ``afire_due(now)``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from pydantic import BaseModel

from workflows_app import Schedule, Workflow, create_step, create_workflow
from workflows_app.core import runtime
from workflows_app.models import WorkflowRun, WorkflowSchedule, WorkflowScheduleTick
from workflows_app.schedules import (
    afire_due,
    create_schedule,
    pause_schedule,
    resume_schedule,
    sync_declared,
)

from .conftest import Calls, Harness

MONDAY = datetime(2031, 1, 6, tzinfo=UTC)  # far from the real clock: only the test fires these ticks
LEAP_DAY = datetime(2032, 2, 29, tzinfo=UTC)


class Digest(BaseModel):
    kind: str


def digest_workflow(calls: Calls, workflow_id: str, schedule: Schedule | None = None) -> Workflow:
    async def send(ctx: Any) -> dict[str, Any]:
        calls.hit("send", {"kind": ctx.input_data["kind"], "schedule": ctx.request_context.get("schedule")})
        return {"sent": ctx.input_data["kind"]}

    step = create_step("send", execute=send, input_schema=Digest)
    return create_workflow(workflow_id, input_schema=Digest, schedule=schedule).then(step).commit()


async def fire(harness: Harness, now: datetime) -> list[str]:
    """One sweep at ``now`` with the harness's engine; returns once the runs it started settled."""
    engine = runtime.get_engine(harness.engine)
    await engine.aready()  # a worker is running, as where sweeps happen
    run_ids = await afire_due(now, engine=harness.engine)
    for run_id in run_ids:
        await engine.await_settled(run_id)
    harness.settled()
    return run_ids


async def test_a_declared_schedule_starts_one_run_per_tick_in_its_time_zone(
    harness: Harness, calls: Calls
) -> None:
    # Only on 29 February, so that the workers' own sweepers (on the real clock) never fire it.
    schedule = Schedule(cron="0 9 29 2 *", timezone="Europe/Paris", input={"kind": "daily"}, catch_up="one")
    workflow = digest_workflow(calls, "digest", schedule)
    synced = await sync_to_async(sync_declared)({workflow.id: workflow}, now=LEAP_DAY)
    assert synced == 1
    assert await sync_to_async(sync_declared)({workflow.id: workflow}, now=LEAP_DAY) == 0  # idempotent
    row = await WorkflowSchedule.objects.aget(name="digest")
    assert (row.declared, row.next_fire_at) == (True, LEAP_DAY.replace(hour=8))  # 09:00 in Paris, winter

    assert await fire(harness, LEAP_DAY.replace(hour=7, minute=59)) == []
    (run_id,) = await fire(harness, LEAP_DAY.replace(hour=8, second=5))
    assert await fire(harness, LEAP_DAY.replace(hour=8, second=30)) == []  # that tick fired already

    run = await workflow.acreate_run(run_id=run_id)
    result = await run.aresult()
    assert result.status == "success"
    assert result.result == {"sent": "daily"}
    assert calls.inputs["send"] == [
        {"kind": "daily", "schedule": {"name": "digest", "tick": "2032-02-29T08:00:00+00:00"}}
    ]
    tick = await WorkflowScheduleTick.objects.aget(schedule=row)
    assert (tick.tick, tick.run_id) == (LEAP_DAY.replace(hour=8), run_id)
    row = await WorkflowSchedule.objects.aget(name="digest")
    assert (row.last_tick, row.next_fire_at) == (
        LEAP_DAY.replace(hour=8),
        datetime(2036, 2, 29, 8, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("catch_up", "fired_hours"), [("none", [12]), ("one", [11, 12]), ("all", [9, 10, 11, 12])]
)
async def test_catch_up_after_nothing_fired_for_four_hours(
    harness: Harness, calls: Calls, catch_up: str, fired_hours: list[int]
) -> None:
    """Made at 08:00, first swept at 12:00:10: the ticks of 9, 10 and 11 were missed, 12 is on time."""
    workflow = digest_workflow(calls, f"hourly-{catch_up}")
    await sync_to_async(create_schedule)(
        name=workflow.id,
        workflow_id=workflow.id,
        cron="0 * * * *",
        input={"kind": "hourly"},
        catch_up=catch_up,
        now=MONDAY.replace(hour=8),
    )
    run_ids = await fire(harness, MONDAY.replace(hour=12, second=10))
    ticks = [tick async for tick in WorkflowScheduleTick.objects.order_by("tick")]
    assert [tick.tick for tick in ticks] == [MONDAY.replace(hour=h) for h in fired_hours]
    assert sorted(tick.run_id for tick in ticks) == sorted(run_ids)
    statuses = [run.status async for run in WorkflowRun.objects.filter(workflow_id=workflow.id)]
    assert statuses == ["success"] * len(fired_hours)
    assert calls["send"] == len(fired_hours)
    row = await WorkflowSchedule.objects.aget(name=workflow.id)
    assert (row.last_tick, row.next_fire_at) == (MONDAY.replace(hour=12), MONDAY.replace(hour=13))


async def test_a_paused_schedule_does_not_fire_and_resumes_from_now(harness: Harness, calls: Calls) -> None:
    workflow = digest_workflow(calls, "paused-digest")
    row = await sync_to_async(create_schedule)(
        name=workflow.id,
        workflow_id=workflow.id,
        cron="0 * * * *",
        input={"kind": "x"},
        catch_up="all",
        now=MONDAY,
    )
    await sync_to_async(pause_schedule)(row)
    assert await fire(harness, MONDAY + timedelta(hours=3, seconds=1)) == []
    await sync_to_async(resume_schedule)(row, now=MONDAY + timedelta(hours=3, minutes=30))
    assert (
        await fire(harness, MONDAY + timedelta(hours=3, minutes=31)) == []
    )  # paused hours are not caught up
    assert len(await fire(harness, MONDAY + timedelta(hours=4, seconds=1))) == 1
    assert calls["send"] == 1
