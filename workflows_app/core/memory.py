"""In-memory implementations of the core protocols, for core tests and scripts.

Records are copied through JSON on the way in and out, like a database would, so
that nothing a caller keeps can change what is stored, and data that would not
survive a database does not survive here either.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic_core import to_jsonable_python

from .errors import ResumeConflictError, WorkflowError
from .storage import RUN_FIELDS, STEP_FIELDS, Change, Coordinate, RunRecord, StaleTask, StepRecord

_T = TypeVar("_T")


class InMemoryStorage:
    """A :class:`~workflows_app.core.storage.Storage` held in a dict."""

    def __init__(self) -> None:
        self._runs: dict[str, RunRecord] = {}
        self._steps: dict[str, dict[tuple[str, int | None, int, int], StepRecord]] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._leases: dict[tuple[str, Coordinate], dict[str, Any]] = {}
        self._workers: dict[str, dict[str, Any]] = {}

    async def acreate_run(self, run: RunRecord) -> None:
        if run.run_id in self._runs:
            raise WorkflowError(f"A workflow run with id {run.run_id!r} already exists")
        now = datetime.now(UTC)
        stored = _copy(replace(run, created_at=run.created_at or now, updated_at=now))
        self._runs[run.run_id] = stored
        self._steps[run.run_id] = {}
        self._events[run.run_id] = []

    async def aget_run(self, run_id: str) -> RunRecord | None:
        run = self._runs.get(run_id)
        return _copy(run) if run else None

    async def acommit(
        self,
        run_id: str,
        *,
        run: dict[str, Any] | None = None,
        steps: Sequence[StepRecord] = (),
        events: Sequence[dict[str, Any]] = (),
        expected_version: int | None = None,
    ) -> list[int]:
        stored = self._runs.get(run_id)
        if stored is None:
            raise WorkflowError(f"Workflow run {run_id!r} not found")
        if expected_version is not None and stored.version != expected_version:
            raise ResumeConflictError()
        unknown = set(run or ()) - RUN_FIELDS
        if unknown:
            raise WorkflowError(f"Unknown run fields: {sorted(unknown)}")
        for key, value in (run or {}).items():
            setattr(stored, key, _json_copy(value) if key in _RUN_JSON else value)
        stored.version += 1
        stored.updated_at = datetime.now(UTC)
        table = self._steps[run_id]
        for step in steps:
            table[step.coordinate] = replace(_copy(step), claimed_by="", claimed_until=None)
            # A new hand-out starts unclaimed, unless the commit claims it for a worker.
            self._leases.pop((run_id, step.coordinate), None)
            if step.claimed_by:
                self._leases[(run_id, step.coordinate)] = {
                    "deliveries": 0,
                    "owner": step.claimed_by,
                    "until": step.claimed_until or 0,
                }
        log = self._events[run_id]
        seqs = []
        for event in events:
            seq = len(log) + 1
            log.append(
                {
                    "type": event["type"],
                    "run_id": run_id,
                    "from": event.get("from", "WORKFLOW"),
                    "payload": _json_copy(event.get("payload")),
                    "seq": seq,
                }
            )
            seqs.append(seq)
        return seqs

    async def aget_steps(self, run_id: str) -> list[StepRecord]:
        return [_copy(step) for step in self._steps.get(run_id, {}).values()]

    async def aget_step(self, run_id: str, path: str) -> StepRecord | None:
        best: StepRecord | None = None
        for step in self._steps.get(run_id, {}).values():
            if step.path != path or step.foreach_index is not None:
                continue
            if best is None or (step.iteration, step.attempt) >= (best.iteration, best.attempt):
                best = step
        return _copy(best) if best else None

    async def aread_events(
        self, run_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        events = self._events.get(run_id, [])[after_seq:]
        if limit is not None:
            events = events[:limit]
        return _copy(events)

    async def alist_runs(
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
        def keep(run: RunRecord) -> bool:
            created = run.created_at or datetime.now(UTC)
            return (
                (workflow_id is None or run.workflow_id == workflow_id)
                and (status is None or run.status == status)
                and (resource_id is None or run.resource_id == resource_id)
                and (from_date is None or created >= from_date)
                and (to_date is None or created <= to_date)
            )

        runs = sorted(
            (run for run in self._runs.values() if keep(run)),
            key=lambda run: run.created_at or datetime.now(UTC),
            reverse=True,
        )
        end = None if limit is None else offset + limit
        return [_copy(run) for run in runs[offset:end]], len(runs)

    # -- the evented engine's task queue (TaskStorage) -----------------------------
    async def atransact(
        self, run_id: str, change: Callable[[RunRecord], Change | None], *, known: RunRecord | None = None
    ) -> list[int] | None:
        stored = self._runs.get(run_id)
        if stored is None:
            raise WorkflowError(f"Workflow run {run_id!r} not found")
        result = change(_copy(stored))
        if result is None:
            return None
        fields, steps, events = result
        return await self.acommit(run_id, run=fields, steps=steps, events=events)

    async def aclaim(self, run_id: str, coordinate: Coordinate, worker: str, until: int, now: int) -> bool:
        row = self._steps.get(run_id, {}).get(coordinate)
        if row is None or row.status != "running":
            return False
        lease = self._leases.setdefault((run_id, coordinate), {"deliveries": 0})
        if lease.get("owner") is not None and lease.get("until", 0) >= now:
            return False
        lease.update(owner=worker, until=until)
        return True

    async def arenew(self, run_id: str, coordinate: Coordinate, worker: str, until: int) -> bool:
        row = self._steps.get(run_id, {}).get(coordinate)
        lease = self._leases.get((run_id, coordinate))
        if row is None or row.status != "running" or lease is None or lease.get("owner") != worker:
            return False
        lease["until"] = until
        return True

    async def astale_tasks(self, now: int, unclaimed_for: int, limit: int = 100) -> list[StaleTask]:
        stale: list[StaleTask] = []
        for run_id, rows in self._steps.items():
            run = self._runs.get(run_id)
            if run is None or run.status != "running":
                continue
            for coordinate, row in rows.items():
                if row.status != "running" or not row.is_task or len(stale) >= limit:
                    continue
                lease = self._leases.get((run_id, coordinate), {})
                handed_out = max(row.started_at or 0, row.resumed_at or 0, lease.get("dispatched", 0))
                expired = lease.get("owner") is not None and lease.get("until", 0) < now
                lost = lease.get("owner") is None and handed_out < now - unclaimed_for
                if expired or lost:
                    stale.append(StaleTask(run_id, coordinate, lease.get("deliveries", 0)))
        return stale

    async def aredeliver(self, run_id: str, coordinate: Coordinate, now: int) -> int:
        lease = self._leases.setdefault((run_id, coordinate), {"deliveries": 0})
        lease.update(owner=None, until=0, dispatched=now, deliveries=lease.get("deliveries", 0) + 1)
        return int(lease["deliveries"])

    async def adue_runs(self, now: datetime, limit: int = 100) -> list[str]:
        due = [r.run_id for r in self._runs.values() if r.wake_at is not None and r.wake_at <= now]
        return due[:limit]

    async def aidle_runs(self, before: datetime, limit: int = 100) -> list[str]:
        idle = [
            r.run_id
            for r in self._runs.values()
            if r.status == "running" and r.updated_at is not None and r.updated_at < before
        ]
        return idle[:limit]

    async def aheartbeat(self, worker: str, info: dict[str, Any]) -> None:
        self._workers[worker] = {**info, "worker": worker, "last_seen": datetime.now(UTC)}

    async def alive_workers(self, since: datetime) -> list[dict[str, Any]]:
        return [dict(w) for w in self._workers.values() if w["last_seen"] >= since]

    async def adelete_run(self, run_id: str) -> bool:
        existed = self._runs.pop(run_id, None) is not None
        self._steps.pop(run_id, None)
        self._events.pop(run_id, None)
        return existed


def _copy(record: _T) -> _T:
    """A private copy with every JSON column passed through JSON, as a database stores it.

    So code that only works while data is still Python objects (integer dict keys,
    tuples, datetimes) fails here too, not only on the ORM storage.
    """
    if isinstance(record, RunRecord | StepRecord):
        columns = _RUN_JSON if isinstance(record, RunRecord) else _STEP_JSON
        return replace(record, **_json_copy({name: getattr(record, name) for name in columns}))
    return _json_copy(record)  # type: ignore[no-any-return]


def _json_copy(value: Any) -> Any:
    return json.loads(json.dumps(value, default=to_jsonable_python))


_RUN_JSON = ("input", "run_state", "request_context", "state", "result", "error", "snapshot")
_STEP_JSON = tuple(name for name in STEP_FIELDS if not name.endswith("_at") and name != "status")
