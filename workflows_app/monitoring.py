"""What an operator asks of a running system: live workers, queue depth, stuck runs.

Every figure is one indexed query, so the command and any dashboard built on
:func:`health` stay cheap on a large table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from .conf import workflow_settings
from .models import RunStatus, StepAttempt, WorkerHeartbeat, WorkflowRun


@dataclass
class Health:
    """A snapshot of the evented engine's moving parts."""

    workers: list[dict[str, Any]] = field(default_factory=list)
    unclaimed_tasks: int = 0
    claimed_tasks: int = 0
    expired_leases: int = 0
    overdue_timers: int = 0
    stuck_runs: list[str] = field(default_factory=list)

    @property
    def live_workers(self) -> int:
        return sum(1 for worker in self.workers if worker["alive"])


def health(*, stuck_after: timedelta = timedelta(minutes=10), now: datetime | None = None) -> Health:
    """Workers with their last heartbeat; tasks waiting or running; runs that stopped moving.

    A *stuck* run is ``running`` but unchanged for ``stuck_after``: its steps
    are slower than that, or its work was lost and nothing recovered it.
    """
    now = now or timezone.now()
    now_ms = int(now.timestamp() * 1000)
    alive_since = now - timedelta(seconds=3 * float(workflow_settings.HEARTBEAT_SECONDS))
    workers = [
        {**row, "alive": row["last_seen"] >= alive_since}
        for row in WorkerHeartbeat.objects.order_by("-last_seen").values()[:200]
    ]
    running = StepAttempt.objects.filter(status="running", is_task=True, run__status=RunStatus.RUNNING)
    return Health(
        workers=workers,
        unclaimed_tasks=running.filter(lease_owner="").count(),
        claimed_tasks=running.exclude(lease_owner="").count(),
        expired_leases=running.filter(lease_until__lt=now_ms).count(),
        overdue_timers=WorkflowRun.objects.filter(
            status=RunStatus.RUNNING, wake_at__lt=now - timedelta(seconds=30)
        ).count(),
        stuck_runs=[
            str(run_id)
            for run_id in WorkflowRun.objects.filter(
                status=RunStatus.RUNNING, updated_at__lt=now - stuck_after
            )
            .order_by("updated_at")
            .values_list("run_id", flat=True)[:100]
        ],
    )
