"""The operator's view: workers, the queue and runs that cannot move (``manage.py workflows_status``)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from workflows_app.models import WorkerHeartbeat, WorkflowRun, WorkflowTask
from workflows_app.monitoring import health

pytestmark = pytest.mark.django_db


def test_an_idle_system_is_healthy_and_the_command_says_so() -> None:
    out = StringIO()
    call_command("workflows_status", stdout=out)
    assert "workers: 0 alive of 0 seen" in out.getvalue()
    assert "stuck runs (active, nothing owed): 0" in out.getvalue()


def task(run: WorkflowRun, key: str, **fields: object) -> WorkflowTask:
    values = {"handout": 1, "kind": "step", "queue": "evented", "available_at": 0, "created_at": 0, **fields}
    return WorkflowTask.objects.create(run=run, key=key, **values)


def test_workers_the_queue_and_runs_that_cannot_move_are_reported() -> None:
    now = timezone.now()
    now_ms = int(now.timestamp() * 1000)
    WorkerHeartbeat.objects.create(worker="w-alive", last_seen=now, concurrency=4)
    WorkerHeartbeat.objects.create(worker="w-gone", last_seen=now - timedelta(minutes=5), concurrency=4)
    WorkflowRun.objects.create(run_id="stuck", workflow_id="wf", status="running")
    WorkflowRun.objects.create(run_id="stuck-pending", workflow_id="wf", status="pending")
    WorkflowRun.objects.create(run_id="stuck-waiting", workflow_id="wf", status="waiting")
    # Waiting for a person, not for the system: owing nothing is their normal state.
    WorkflowRun.objects.create(run_id="suspended", workflow_id="wf", status="suspended")
    WorkflowRun.objects.create(run_id="paused", workflow_id="wf", status="paused")
    busy = WorkflowRun.objects.create(run_id="busy", workflow_id="wf", status="running")
    task(busy, "queued")
    task(busy, "leased", status="running", owner="w-alive", lease=1, lease_until=now_ms + 10_000)
    task(busy, "expired", status="running", owner="w-alive", lease=1, lease_until=now_ms - 1)
    task(busy, "late-timer", kind="timer", available_at=now_ms - 60_000)
    orphan = WorkflowRun.objects.create(run_id="orphan", workflow_id="wf", status="running")
    task(orphan, "held", queue="default:w-gone", status="running", owner="w-gone", lease=1, lease_until=0)
    task(orphan, "fine", queue="default:w-alive", handout=2)

    report = health(now=now)

    assert report.live_workers == 1
    assert [w["worker"] for w in report.workers] == ["w-alive", "w-gone"]
    assert (report.queued_tasks, report.running_tasks, report.expired_leases) == (3, 3, 2)
    assert report.overdue_timers == 1
    assert report.stuck_runs == ["stuck", "stuck-pending", "stuck-waiting"]
    assert report.orphaned_runs == ["orphan"]
    assert not report.healthy
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("workflows_status", stdout=out)
    assert "orphan  (restart it)" in out.getvalue()
