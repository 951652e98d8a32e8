"""The evented engine's task queue in the database: transactions, leases, timers, workers.

Claims are conditional UPDATEs whose row count says who won, so two workers can
never both run a step; every change to one run is a compare-and-set on its
version or made under its row lock (:func:`workflows_app.sql.transact`). Lease
and delivery columns live on the step row, apart from the step's own fields.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Greatest

from . import sql
from .core.storage import Change, Coordinate, RunRecord, StaleTask
from .models import StepAttempt, WorkerHeartbeat, WorkflowRun

_NO_INDEX = sql.NO_INDEX


def _coordinate_filter(run_id: str, coordinate: Coordinate) -> Q:
    path, foreach_index, iteration, attempt = coordinate
    index = _NO_INDEX if foreach_index is None else foreach_index
    return Q(run_id=run_id, path=path, foreach_index=index, iteration=iteration, attempt=attempt)


class TaskQueueMixin:
    """The :class:`~workflows_app.core.storage.TaskStorage` half of ``DjangoStorage``."""

    async def atransact(
        self, run_id: str, change: Callable[[RunRecord], Change | None], *, known: RunRecord | None = None
    ) -> list[int] | None:
        return await sync_to_async(sql.transact)(run_id, change, known)

    async def aclaim(self, run_id: str, coordinate: Coordinate, worker: str, until: int, now: int) -> bool:
        return await sync_to_async(self.claim)(run_id, coordinate, worker, until, now)

    async def arenew(self, run_id: str, coordinate: Coordinate, worker: str, until: int) -> bool:
        return await sync_to_async(self.renew)(run_id, coordinate, worker, until)

    async def astale_tasks(self, now: int, unclaimed_for: int, limit: int = 100) -> list[StaleTask]:
        return await sync_to_async(self.stale_tasks)(now, unclaimed_for, limit)

    async def aredeliver(self, run_id: str, coordinate: Coordinate, now: int) -> int:
        return await sync_to_async(self.redeliver)(run_id, coordinate, now)

    async def adue_runs(self, now: datetime, limit: int = 100) -> list[str]:
        return await sync_to_async(self.due_runs)(now, limit)

    async def aidle_runs(self, before: datetime, limit: int = 100) -> list[str]:
        return await sync_to_async(self.idle_runs)(before, limit)

    async def aheartbeat(self, worker: str, info: dict[str, Any]) -> None:
        await sync_to_async(self.heartbeat)(worker, info)

    async def alive_workers(self, since: datetime) -> list[dict[str, Any]]:
        return await sync_to_async(self.live_workers)(since)

    # -- sync implementations --------------------------------------------------------
    def claim(self, run_id: str, coordinate: Coordinate, worker: str, until: int, now: int) -> bool:
        return sql.claim(run_id, coordinate, worker, until, now)

    def renew(self, run_id: str, coordinate: Coordinate, worker: str, until: int) -> bool:
        rows = StepAttempt.objects.filter(
            _coordinate_filter(run_id, coordinate), status="running", lease_owner=worker
        )
        return rows.update(lease_until=until) == 1

    def stale_tasks(self, now: int, unclaimed_for: int, limit: int = 100) -> list[StaleTask]:
        handed_out = Greatest(
            Coalesce("started_at", 0), Coalesce("resumed_at", 0), Coalesce("dispatched_at", 0)
        )
        rows = (
            StepAttempt.objects.filter(status="running", is_task=True, run__status="running")
            .annotate(handed_out=handed_out)
            .filter(Q(lease_until__lt=now) | Q(lease_owner="", handed_out__lt=now - unclaimed_for))
            .values("run_id", "path", "foreach_index", "iteration", "attempt", "deliveries")[:limit]
        )
        return [
            StaleTask(
                run_id=row["run_id"],
                coordinate=(
                    row["path"],
                    None if row["foreach_index"] == _NO_INDEX else row["foreach_index"],
                    row["iteration"],
                    row["attempt"],
                ),
                deliveries=row["deliveries"],
            )
            for row in rows
        ]

    def redeliver(self, run_id: str, coordinate: Coordinate, now: int) -> int:
        rows = StepAttempt.objects.filter(_coordinate_filter(run_id, coordinate))
        rows.update(lease_owner="", lease_until=None, dispatched_at=now, deliveries=F("deliveries") + 1)
        found = rows.values_list("deliveries", flat=True).first()
        return int(found or 0)

    def due_runs(self, now: datetime, limit: int = 100) -> list[str]:
        due = WorkflowRun.objects.filter(status="running", wake_at__lte=now).order_by("wake_at")
        return [str(run_id) for run_id in due.values_list("run_id", flat=True)[:limit]]

    def idle_runs(self, before: datetime, limit: int = 100) -> list[str]:
        idle = WorkflowRun.objects.filter(status="running", updated_at__lt=before).order_by("updated_at")
        return [str(run_id) for run_id in idle.values_list("run_id", flat=True)[:limit]]

    def heartbeat(self, worker: str, info: dict[str, Any]) -> None:
        from django.utils import timezone

        fields: dict[str, Any] = {
            key: info[key] for key in ("host", "pid", "concurrency", "running") if key in info
        }
        WorkerHeartbeat.objects.update_or_create(
            worker=worker, defaults={**fields, "last_seen": timezone.now()}
        )

    def live_workers(self, since: datetime) -> list[dict[str, Any]]:
        return [dict(row) for row in WorkerHeartbeat.objects.filter(last_seen__gte=since).values()]
