"""The evented engine's task queue, on both storages: claims, leases, hand-outs, timers, workers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from workflows_app.core.memory import InMemoryStorage
from workflows_app.core.storage import RunRecord, StepRecord, TaskStorage
from workflows_app.storage import DjangoStorage

pytestmark = pytest.mark.django_db(transaction=True)

TASK = ("s", None, 0, 0)


@pytest.fixture(params=["memory", "django"])
def storage(request: pytest.FixtureRequest) -> Iterator[TaskStorage]:
    yield InMemoryStorage() if request.param == "memory" else DjangoStorage()


async def running_task(storage: TaskStorage, run_id: str = "r1", started_at: int = 1_000) -> None:
    """A running run with one task row handed out at ``started_at``."""
    await storage.acreate_run(RunRecord(run_id=run_id, workflow_id="wf"))
    step = StepRecord(path="s", status="running", started_at=started_at, is_task=True)
    await storage.acommit(run_id, run={"status": "running"}, steps=[step])


async def test_a_task_is_claimed_once_until_its_lease_expires(storage: TaskStorage) -> None:
    await running_task(storage)
    assert await storage.aclaim("r1", TASK, "w1", until=5_000, now=2_000)
    assert not await storage.aclaim("r1", TASK, "w2", until=6_000, now=3_000)
    assert await storage.aclaim("r1", TASK, "w2", until=9_000, now=5_001)


async def test_only_the_owner_renews_and_only_while_the_task_runs(storage: TaskStorage) -> None:
    await running_task(storage)
    await storage.aclaim("r1", TASK, "w1", until=5_000, now=2_000)
    assert await storage.arenew("r1", TASK, "w1", until=8_000)
    assert not await storage.arenew("r1", TASK, "w2", until=8_000)
    await storage.acommit("r1", steps=[StepRecord(path="s", status="success", is_task=True)])
    assert not await storage.arenew("r1", TASK, "w1", until=9_000)


async def test_expired_and_never_claimed_tasks_are_stale(storage: TaskStorage) -> None:
    await running_task(storage, "lost", started_at=1_000)
    await running_task(storage, "expired", started_at=1_000)
    await running_task(storage, "healthy", started_at=1_000)
    await storage.aclaim("expired", TASK, "w1", until=2_000, now=1_000)
    await storage.aclaim("healthy", TASK, "w1", until=99_000, now=1_000)
    stale = await storage.astale_tasks(now=10_000, unclaimed_for=5_000)
    assert sorted(task.run_id for task in stale) == ["expired", "lost"]
    assert await storage.astale_tasks(now=1_500, unclaimed_for=5_000) == []


async def test_tasks_of_a_run_that_ended_are_never_stale(storage: TaskStorage) -> None:
    await running_task(storage)
    await storage.acommit("r1", run={"status": "canceled"})
    assert await storage.astale_tasks(now=99_000, unclaimed_for=1) == []


async def test_a_redelivery_clears_the_lease_and_counts(storage: TaskStorage) -> None:
    await running_task(storage)
    await storage.aclaim("r1", TASK, "w1", until=99_000, now=1_000)
    assert await storage.aredeliver("r1", TASK, now=2_000) == 1
    assert await storage.aclaim("r1", TASK, "w2", until=99_000, now=2_001)
    assert await storage.aredeliver("r1", TASK, now=3_000) == 2
    stale = await storage.astale_tasks(now=10_000, unclaimed_for=5_000)
    assert [(task.run_id, task.coordinate, task.deliveries) for task in stale] == [("r1", TASK, 2)]


async def test_due_runs_are_running_runs_whose_timer_passed(storage: TaskStorage) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    for run_id, wake in [("due", now - timedelta(seconds=1)), ("later", now + timedelta(hours=1))]:
        await storage.acreate_run(RunRecord(run_id=run_id, workflow_id="wf"))
        await storage.acommit(run_id, run={"status": "running", "wake_at": wake})
    assert await storage.adue_runs(now) == ["due"]


async def test_idle_runs_are_running_runs_unchanged_since(storage: TaskStorage) -> None:
    await running_task(storage)
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert await storage.aidle_runs(later) == ["r1"]
    assert await storage.aidle_runs(datetime.now(UTC) - timedelta(minutes=1)) == []
    await storage.acommit("r1", run={"status": "success"})
    assert await storage.aidle_runs(later) == []


async def test_heartbeats_tell_which_workers_are_alive(storage: TaskStorage) -> None:
    await storage.aheartbeat("w1", {"host": "h", "pid": 1, "concurrency": 4, "running": 2})
    workers = await storage.alive_workers(datetime.now(UTC) - timedelta(minutes=1))
    assert [(w["worker"], w["running"]) for w in workers] == [("w1", 2)]
    assert await storage.alive_workers(datetime.now(UTC) + timedelta(minutes=1)) == []
