"""What an operator asks of a running system: live workers, the queue, runs that cannot move.

Every figure is one indexed query, so the command and any dashboard built on
:func:`health` stay cheap on a large table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import Exists, OuterRef
from django.utils import timezone

from .conf import workflow_settings
from .models import TaskStatus, WorkerHeartbeat, WorkflowRun, WorkflowTask

_LIMIT = 100


@dataclass
class Health:
    """A snapshot of the queue and the workers that serve it."""

    workers: list[dict[str, Any]] = field(default_factory=list)
    queued_tasks: int = 0
    running_tasks: int = 0
    expired_leases: int = 0
    overdue_timers: int = 0
    stuck_runs: list[str] = field(default_factory=list)
    orphaned_runs: list[str] = field(default_factory=list)

    @property
    def live_workers(self) -> int:
        return sum(1 for worker in self.workers if worker["alive"])

    @property
    def healthy(self) -> bool:
        return not (self.stuck_runs or self.orphaned_runs or self.expired_leases or self.overdue_timers)


def health(*, now: datetime | None = None) -> Health:
    """Workers with their last heartbeat; the queue; runs that cannot move on by themselves.

    A *stuck* run is pending, running or waiting with nothing owed to it: no task
    row at all, so nothing will ever move it (the guarantees say this never
    happens; the report is how an operator would see it if it did). An
    *orphaned* run has work held in the private queue of a default-engine process
    that stopped beating: ``run.arestart()`` (or Restart in the admin) hands it to
    a live process.
    """
    now = now or timezone.now()
    now_ms = int(now.timestamp() * 1000)
    alive_since = now - timedelta(seconds=3 * float(workflow_settings.HEARTBEAT_SECONDS))
    workers = [
        {**row, "alive": row["last_seen"] >= alive_since}
        for row in WorkerHeartbeat.objects.order_by("-last_seen").values()[:200]
    ]
    tasks = WorkflowTask.objects
    owed = tasks.filter(run=OuterRef("pk"))
    stuck = WorkflowRun.objects.active().filter(~Exists(owed)).order_by("updated_at")
    alive = {worker["worker"] for worker in workers if worker["alive"]}
    private = tasks.filter(queue__startswith="default:").values_list("queue", "run_id").distinct()
    orphaned = sorted(
        {str(run_id) for queue, run_id in private[:1000] if queue.split(":", 1)[1] not in alive}
    )
    return Health(
        workers=workers,
        queued_tasks=tasks.filter(status=TaskStatus.QUEUED, available_at__lte=now_ms).count(),
        running_tasks=tasks.filter(status=TaskStatus.RUNNING).count(),
        expired_leases=tasks.filter(status=TaskStatus.RUNNING, lease_until__lt=now_ms).count(),
        overdue_timers=tasks.filter(
            status=TaskStatus.QUEUED, kind="timer", available_at__lt=now_ms - 30_000
        ).count(),
        stuck_runs=[str(run_id) for run_id in stuck.values_list("run_id", flat=True)[:_LIMIT]],
        orphaned_runs=orphaned[:_LIMIT],
    )


async def ahealth(*, now: datetime | None = None) -> Health:
    return await sync_to_async(health)(now=now)
