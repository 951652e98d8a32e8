"""Schedule rows in the database: a tick and its run are one transaction; syncing; the worker fires them."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from workflows_app import Schedule, create_step, create_workflow
from workflows_app.core import runtime
from workflows_app.models import WorkflowRun, WorkflowSchedule, WorkflowScheduleTick
from workflows_app.schedules import afire_due, create_schedule, pause_schedule, sync_declared
from workflows_app.storage import DjangoStorage

pytestmark = pytest.mark.django_db(transaction=True)

FAR = datetime(2031, 1, 6, 8, tzinfo=UTC)  # only the test fires ticks this far ahead
# Declared schedules of test workflows fire only on 29 February: workers' sweepers sync them into
# every test's database, and must never fire them on the real clock in the middle of another test.

nightly = (
    create_workflow("nightly", schedule=Schedule(cron="0 2 29 2 *", timezone="Europe/Berlin"))
    .then(create_step("work", execute=lambda ctx: {"done": True}))
    .commit()
)
plain = create_workflow("unscheduled").then(create_step("work", execute=lambda ctx: None)).commit()


def hourly(**options: Any) -> WorkflowSchedule:
    return create_schedule(name="hourly", workflow_id="unscheduled", cron="0 * * * *", now=FAR, **options)


async def test_a_tick_whose_run_cannot_be_written_leaves_no_trace(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The tick's row rolls back with its run: the tick is fired later, not lost."""
    await sync_to_async(hourly)()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    with monkeypatch.context() as patch:
        patch.setattr(DjangoStorage, "transact", broken)
        assert await afire_due(FAR + timedelta(hours=1, seconds=1), engine="evented") == []
    assert "Schedule hourly could not fire" in caplog.text
    assert not await WorkflowScheduleTick.objects.aexists()
    assert not await WorkflowRun.objects.aexists()
    assert (await WorkflowSchedule.objects.aget(name="hourly")).last_tick == FAR

    (run_id,) = await afire_due(FAR + timedelta(hours=1, seconds=2), engine="evented")
    tick = await WorkflowScheduleTick.objects.aget()
    assert (tick.tick, tick.run_id) == (FAR + timedelta(hours=1), run_id)
    assert await WorkflowRun.objects.filter(pk=run_id, workflow_id="unscheduled").aexists()


async def test_a_tick_fired_elsewhere_writes_no_second_run() -> None:
    row = await sync_to_async(hourly)()
    await WorkflowScheduleTick.objects.acreate(
        schedule=row, tick=FAR + timedelta(hours=1), run_id="elsewhere"
    )
    assert await afire_due(FAR + timedelta(hours=1, seconds=1), engine="evented") == []
    assert not await WorkflowRun.objects.aexists()
    assert (await WorkflowSchedule.objects.aget(name="hourly")).last_tick == FAR + timedelta(hours=1)


def test_syncing_declared_schedules_is_idempotent_and_keeps_an_operators_pause() -> None:
    assert sync_declared({"nightly": nightly}, now=FAR) == 1
    row = WorkflowSchedule.objects.get(name="nightly")
    assert (row.declared, row.next_fire_at) == (True, datetime(2032, 2, 29, 1, tzinfo=UTC))  # 02:00 Berlin
    pause_schedule(row)
    assert sync_declared({"nightly": nightly}, now=FAR) == 0
    assert WorkflowSchedule.objects.get(name="nightly").paused is True


def test_a_schedule_removed_from_the_code_goes_when_its_workflow_is_synced() -> None:
    sync_declared({"nightly": nightly}, now=FAR)
    hourly()
    assert sync_declared({"nightly": plain}, now=FAR) == 1  # "nightly" no longer declares one
    assert list(WorkflowSchedule.objects.values_list("name", flat=True)) == ["hourly"]  # not declared: kept


async def test_the_workers_sweeper_syncs_and_fires_due_schedules() -> None:
    """A worker of this process (here the default engine's) fires a tick due now, on its own."""
    now = timezone.now()
    await sync_to_async(create_schedule)(
        name="every-minute", workflow_id="unscheduled", cron="* * * * *", now=now - timedelta(seconds=61)
    )
    await runtime.get_engine("default").aready()  # starts this process's worker, and its sweeper
    deadline = time.monotonic() + 30
    while not await WorkflowScheduleTick.objects.aexists():
        assert time.monotonic() < deadline, "the sweeper fired nothing"
        await asyncio.sleep(0.05)
    tick = await WorkflowScheduleTick.objects.aget()
    assert await WorkflowRun.objects.filter(pk=tick.run_id).aexists()
    assert await WorkflowSchedule.objects.filter(name="nightly", declared=True).aexists()  # synced too


def test_a_declared_schedule_never_takes_over_a_row_made_by_people(caplog: pytest.LogCaptureFixture) -> None:
    create_schedule(name="nightly", workflow_id="unscheduled", cron="0 * * * *", now=FAR)
    assert sync_declared({"nightly": nightly}, now=FAR) == 0
    row = WorkflowSchedule.objects.get(name="nightly")
    assert (row.workflow_id, row.declared) == ("unscheduled", False)
    assert "is not synced until it is renamed" in caplog.text
