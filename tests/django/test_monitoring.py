"""The operator's view: workers, queue depth and stuck runs (``manage.py workflows_status``)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from workflows_app.models import StepAttempt, WorkerHeartbeat, WorkflowRun
from workflows_app.monitoring import health

pytestmark = pytest.mark.django_db


def test_an_idle_system_is_healthy_and_the_command_says_so() -> None:
    out = StringIO()
    call_command("workflows_status", stdout=out)
    assert "workers: 0 alive of 0 seen" in out.getvalue()
    assert "stuck runs: 0" in out.getvalue()


def test_workers_queue_and_stuck_runs_are_reported() -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker="w-alive", last_seen=now, concurrency=4)
    WorkerHeartbeat.objects.create(worker="w-gone", last_seen=now - timedelta(minutes=5), concurrency=4)
    stuck = WorkflowRun.objects.create(run_id="stuck", workflow_id="wf", status="running")
    WorkflowRun.objects.filter(pk=stuck.pk).update(updated_at=now - timedelta(hours=1))
    fresh = WorkflowRun.objects.create(run_id="fresh", workflow_id="wf", status="running")
    StepAttempt.objects.create(run=fresh, path="a", status="running", is_task=True)
    StepAttempt.objects.create(
        run=fresh, path="b", status="running", is_task=True, lease_owner="w-alive", lease_until=0
    )

    report = health(now=now)

    assert report.live_workers == 1
    assert [w["worker"] for w in report.workers] == ["w-alive", "w-gone"]
    assert (report.unclaimed_tasks, report.claimed_tasks, report.expired_leases) == (1, 1, 1)
    assert report.stuck_runs == [str(stuck.pk)]
    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("workflows_status", stdout=out)
    assert exited.value.code == 1
    assert str(stuck.pk) in out.getvalue()
