"""The Django implementation of the core ``Storage`` protocol.

Each async method runs its database code in Django's thread-sensitive executor.
The queries every step makes (read a run, commit) are plain SQL in
:mod:`workflows_app.sql`; the rest is ORM. A commit costs the same whatever the
run's length: check ``version``, update the run row, upsert the step rows,
insert the events with the next ``seq`` values.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db import IntegrityError, transaction

from . import sql
from .core.errors import ResumeConflictError, WorkflowError
from .core.storage import STEP_FIELDS, RunRecord, StepRecord
from .models import StepAttempt, WorkflowEvent, WorkflowRun
from .task_queue import TaskQueueMixin

_NO_INDEX = sql.NO_INDEX


class DjangoStorage(TaskQueueMixin):
    """Runs, step attempts and events in the database of the ``default`` alias."""

    async def acreate_run(self, run: RunRecord) -> None:
        await sync_to_async(self.create_run)(run)

    async def aget_run(self, run_id: str) -> RunRecord | None:
        return await sync_to_async(self.get_run)(run_id)

    async def acommit(
        self,
        run_id: str,
        *,
        run: dict[str, Any] | None = None,
        steps: Sequence[StepRecord] = (),
        events: Sequence[dict[str, Any]] = (),
        expected_version: int | None = None,
    ) -> list[int]:
        return await sync_to_async(self.commit)(run_id, run, steps, events, expected_version)

    async def aget_steps(self, run_id: str) -> list[StepRecord]:
        return await sync_to_async(self.get_steps)(run_id)

    async def aget_step(self, run_id: str, path: str) -> StepRecord | None:
        return await sync_to_async(self.get_step)(run_id, path)

    async def aread_events(
        self, run_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        return await sync_to_async(self.read_events)(run_id, after_seq, limit)

    async def alist_runs(self, **filters: Any) -> tuple[list[RunRecord], int]:
        return await sync_to_async(self.list_runs)(**filters)

    async def adelete_run(self, run_id: str) -> bool:
        return await sync_to_async(self.delete_run)(run_id)

    # -- sync implementations --------------------------------------------------------
    def create_run(self, run: RunRecord) -> None:
        values = {name: getattr(run, name) for name in sql.RUN_COLUMNS}
        try:
            with transaction.atomic():
                WorkflowRun.objects.create(run_id=run.run_id, **values)
        except IntegrityError as exc:
            raise WorkflowError(f"A workflow run with id {run.run_id!r} already exists") from exc

    def get_run(self, run_id: str) -> RunRecord | None:
        found = sql.fetch_run(run_id)
        return found[0] if found else None

    def commit(
        self,
        run_id: str,
        run: dict[str, Any] | None,
        steps: Sequence[StepRecord],
        events: Sequence[dict[str, Any]],
        expected_version: int | None,
    ) -> list[int]:
        seqs = sql.commit(run_id, run, steps, events, expected_version)
        if seqs is None:
            if not WorkflowRun.objects.filter(pk=run_id).exists():
                raise WorkflowError(f"Workflow run {run_id!r} not found")
            raise ResumeConflictError()
        return seqs

    def get_steps(self, run_id: str) -> list[StepRecord]:
        rows = StepAttempt.objects.filter(run_id=run_id).order_by("id")
        return [_step_record(row) for row in rows]

    def get_step(self, run_id: str, path: str) -> StepRecord | None:
        row = (
            StepAttempt.objects.filter(run_id=run_id, path=path, foreach_index=_NO_INDEX)
            .order_by("-iteration", "-attempt")
            .first()
        )
        return _step_record(row) if row else None

    def read_events(self, run_id: str, after_seq: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        rows = WorkflowEvent.objects.filter(run_id=run_id, seq__gt=after_seq).order_by("seq")
        if limit is not None:
            rows = rows[:limit]
        return [
            {"type": row.type, "run_id": run_id, "from": row.source, "payload": row.payload, "seq": row.seq}
            for row in rows
        ]

    def list_runs(
        self,
        *,
        workflow_id: str | None = None,
        status: str | None = None,
        resource_id: str | None = None,
        from_date: datetime | None = None,
        to_date: datetime | None = None,
        limit: int | None = 50,
        offset: int = 0,
    ) -> tuple[list[RunRecord], int]:
        rows = WorkflowRun.objects.all()
        if workflow_id is not None:
            rows = rows.filter(workflow_id=workflow_id)
        if status is not None:
            rows = rows.filter(status=status)
        if resource_id is not None:
            rows = rows.filter(resource_id=resource_id)
        if from_date is not None:
            rows = rows.filter(created_at__gte=from_date)
        if to_date is not None:
            rows = rows.filter(created_at__lte=to_date)
        total = rows.count()
        page = rows.order_by("-created_at")[offset : None if limit is None else offset + limit]
        return [_run_record(row) for row in page], total

    def delete_run(self, run_id: str) -> bool:
        deleted, _ = WorkflowRun.objects.filter(pk=run_id).delete()
        return deleted > 0


def _run_record(row: WorkflowRun) -> RunRecord:
    return RunRecord(
        run_id=row.run_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        **{name: getattr(row, name) for name in sql.RUN_COLUMNS},
    )


def _step_record(row: StepAttempt) -> StepRecord:
    return StepRecord(
        path=row.path,
        foreach_index=None if row.foreach_index == _NO_INDEX else row.foreach_index,
        iteration=row.iteration,
        attempt=row.attempt,
        **{name: getattr(row, name) for name in STEP_FIELDS},
    )


def _now() -> datetime:
    from django.utils import timezone

    return timezone.now()
