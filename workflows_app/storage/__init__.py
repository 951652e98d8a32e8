"""The Django implementation of the core ``Storage`` protocol.

Each async method runs its database code in Django's thread-sensitive executor,
on the connection of the ``default`` alias (so that a run started inside the
caller's ``transaction.atomic()`` is written in that transaction). The
statements every step makes (read a run, commit, claim) are SQL in
:mod:`._commit` and :mod:`._queue`; the rest is the ORM. A commit costs the same
whatever the run's length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction

from ..core.storage import STEP_FIELDS, Change, Claim, RunRecord, SentEvent, StepRecord, log_entry
from ..models import StepAttempt, WorkflowEvent, WorkflowRun
from . import _commit, _events, _queue, _reads
from ._sql import NO_INDEX, RUN_COLUMNS


class DjangoStorage:
    """Runs, step attempts, events and the task queue in the database of the ``default`` alias.

    ``clock`` replaces the database's clock for the queue's times (tests that
    move time by hand); by default every due time and lease end is the
    database's own.
    """

    def __init__(self, clock: Callable[[], int] | None = None) -> None:
        self.clock = clock

    def _now(self) -> int | None:
        return self.clock() if self.clock is not None else None

    # -- commits -----------------------------------------------------------------------
    async def atransact(
        self,
        run_id: str,
        change: Callable[[RunRecord], Change | None],
        *,
        known: RunRecord | None = None,
        create: RunRecord | None = None,
        fences: Sequence[Claim] = (),
        expected_version: int | None = None,
    ) -> list[int] | None:
        return await sync_to_async(self.transact)(run_id, change, known, create, fences, expected_version)

    def transact(
        self,
        run_id: str,
        change: Callable[[RunRecord], Change | None],
        known: RunRecord | None = None,
        create: RunRecord | None = None,
        fences: Sequence[Claim] = (),
        expected_version: int | None = None,
    ) -> list[int] | None:
        return _commit.transact(
            run_id,
            change,
            known=known,
            create=create,
            fences=fences,
            expected_version=expected_version,
            now=self._now(),
        )

    def on_commit(self, callback: Callable[[], None]) -> None:
        transaction.on_commit(callback)

    async def acommit(
        self,
        run_id: str,
        *,
        run: dict[str, Any] | None = None,
        events: Sequence[dict[str, Any]] = (),
        expected_version: int | None = None,
    ) -> list[int]:
        return await sync_to_async(_commit.commit)(run_id, run, events, expected_version)

    # -- reading -----------------------------------------------------------------------
    async def aget_run(self, run_id: str) -> RunRecord | None:
        return await sync_to_async(self.get_run)(run_id)

    def get_run(self, run_id: str) -> RunRecord | None:
        found = _commit.fetch_run(run_id)
        return found[0] if found else None

    async def aget_steps(self, run_id: str) -> list[StepRecord]:
        return await sync_to_async(self.get_steps)(run_id)

    def get_steps(self, run_id: str) -> list[StepRecord]:
        rows = StepAttempt.objects.filter(run_id=run_id).order_by("id")
        return [_step_record(row) for row in rows]

    async def aget_step(self, run_id: str, path: str) -> StepRecord | None:
        return await sync_to_async(self.get_step)(run_id, path)

    def get_step(self, run_id: str, path: str) -> StepRecord | None:
        row = (
            StepAttempt.objects.filter(run_id=run_id, path=path, foreach_index=NO_INDEX)
            .order_by("-iteration", "-attempt")
            .first()
        )
        return _step_record(row) if row else None

    # -- what plan reads back, inside a commit -------------------------------------------
    def read_steps(self, run_id: str, coordinates: Sequence[_reads.Coordinate]) -> list[StepRecord]:
        return _reads.read_steps(run_id, coordinates)

    def read_items(self, run_id: str, path: str, iteration: int) -> list[StepRecord]:
        return _reads.read_items(run_id, path, iteration)

    def read_output_item(self, run_id: str, coordinate: _reads.Coordinate, index: int) -> Any:
        return _reads.read_output_item(run_id, coordinate, index)

    async def aread_events(
        self, run_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        return await sync_to_async(self.read_events)(run_id, after_seq, limit)

    def read_events(self, run_id: str, after_seq: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        rows = WorkflowEvent.objects.filter(run_id=run_id, seq__gt=after_seq).order_by("seq")
        if limit is not None:
            rows = rows[:limit]
        return [
            log_entry(run_id, row.seq, {"type": row.type, "from": row.source, "payload": row.payload})
            for row in rows
        ]

    async def alist_runs(self, **filters: Any) -> tuple[list[RunRecord], int]:
        return await sync_to_async(self.list_runs)(**filters)

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

    async def adelete_run(self, run_id: str) -> bool:
        return await sync_to_async(self.delete_run)(run_id)

    def delete_run(self, run_id: str) -> bool:
        deleted, _ = WorkflowRun.objects.filter(pk=run_id).delete()
        return deleted > 0

    # -- the task queue -----------------------------------------------------------------
    async def aclaim(
        self, queues: Sequence[str], owner: str, limit: int, lease_ms: int, *, gated: bool = True
    ) -> list[Claim]:
        return await sync_to_async(_queue.claim)(queues, owner, limit, lease_ms, self._now(), gated)

    async def arenew(self, claims: Sequence[Claim], lease_ms: int) -> set[tuple[str, str, int, int]]:
        if not claims:
            return set()
        return await sync_to_async(_queue.renew)(claims, lease_ms, self._now())

    async def arelease(self, claim: Claim, delay_ms: int) -> bool:
        return await sync_to_async(_queue.release)(claim, delay_ms, self._now())

    async def adrop(self, claims: Sequence[Claim]) -> None:
        if claims:
            await sync_to_async(_commit.drop_fenced)(claims, self._now())

    async def asweep(self, queues: Sequence[str]) -> int:
        return await sync_to_async(_queue.sweep)(queues, self._now())

    async def aholders(self, run_id: str) -> set[str]:
        return await sync_to_async(_queue.holders)(run_id, self._now())

    async def aowes(self, run_id: str, kinds: Sequence[str]) -> bool:
        return await sync_to_async(_queue.owes)(run_id, kinds)

    async def aheartbeat(self, worker: str, info: dict[str, Any]) -> None:
        await sync_to_async(_queue.heartbeat)(worker, info)

    async def alive_workers(self, since: datetime) -> list[dict[str, Any]]:
        return await sync_to_async(_queue.live_workers)(since)

    # -- events sent to runs -------------------------------------------------------------
    async def awaiting_runs(self, name: str, key: str | None) -> list[str]:
        return await sync_to_async(_events.waiting_runs)(name, key)

    async def akeep_event(self, event: SentEvent, keep_ms: int) -> SentEvent:
        return await sync_to_async(_events.keep_event)(event, keep_ms, self._now())

    async def akept_events(self, run_id: str, waits: Sequence[tuple[str, str | None]]) -> list[SentEvent]:
        return await sync_to_async(_events.kept_events)(run_id, waits, self._now())

    async def atake_event(self, event_id: int, run_id: str) -> bool:
        return await sync_to_async(_events.take_event)(event_id, run_id)

    async def arelease_event(self, event_id: int, run_id: str) -> None:
        await sync_to_async(_events.release_event)(event_id, run_id)


def _run_record(row: WorkflowRun) -> RunRecord:
    return RunRecord(
        run_id=row.run_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        **{name: getattr(row, column) for name, column in RUN_COLUMNS.items()},
    )


def _step_record(row: StepAttempt) -> StepRecord:
    return StepRecord(
        path=row.path,
        foreach_index=None if row.foreach_index == NO_INDEX else row.foreach_index,
        iteration=row.iteration,
        attempt=row.attempt,
        **{name: getattr(row, name) for name in STEP_FIELDS},
    )
