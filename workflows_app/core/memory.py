"""An in-memory :class:`~workflows_app.core.storage.Storage`, for core tests and scripts.

Records are copied through JSON on the way in and out, like a database would, so
that nothing a caller keeps can change what is stored, and data that would not
survive a database does not survive here either. It serves one process (and one
event loop): its queue is the same state machine as the database's.
"""

from __future__ import annotations

import json
import marshal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from .errors import ResumeConflictError, RunExistsError, RunNotFoundError, WorkflowError
from .limits import HOLDING, Gate
from .memory_events import EventsInMemory
from .records import evolve
from .storage import (
    RUN_FIELDS,
    STEP_FIELDS,
    TASK_CANCELED,
    TASK_QUEUED,
    TASK_RUNNING,
    Change,
    Claim,
    LeaseLost,
    RunRecord,
    StepRecord,
    TaskRow,
    log_entry,
)

_T = TypeVar("_T")
Coordinate = tuple[str, int | None, int, int]
TaskId = tuple[str, str, int]  # run id, key, handout


@dataclass
class _Task:
    """One row of the queue."""

    id: int
    row: TaskRow
    status: str = TASK_QUEUED
    available_at: int = 0
    owner: str = ""
    lease: int = 0
    lease_until: int = 0
    deliveries: int = 0


def _wall_clock() -> int:
    return int(time.time() * 1000)


class InMemoryStorage(EventsInMemory):
    """Runs, steps, events and the task queue held in dicts."""

    def __init__(self, clock: Callable[[], int] = _wall_clock) -> None:
        super().__init__()
        self.clock = clock
        self._runs: dict[str, RunRecord] = {}
        self._steps: dict[str, dict[Coordinate, StepRecord]] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._tasks: dict[TaskId, _Task] = {}
        self._next_task = 0
        self._workers: dict[str, dict[str, Any]] = {}
        self._starts: dict[str, list[int]] = {}  # a rate's claims: when each leaves its window

    # -- the commit ---------------------------------------------------------------------
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
        return self.transact(run_id, change, create=create, fences=fences, expected_version=expected_version)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Dicts have no transactions: everything is committed as soon as it is written."""
        callback()

    def transact(
        self,
        run_id: str,
        change: Callable[[RunRecord], Change | None],
        *,
        known: RunRecord | None = None,
        create: RunRecord | None = None,
        fences: Sequence[Claim] = (),
        expected_version: int | None = None,
    ) -> list[int] | None:
        if create is not None:
            if run_id in self._runs:
                raise RunExistsError(f"A workflow run with id {run_id!r} already exists")
            current = _copy(create)
        else:
            stored = self._runs.get(run_id)
            if stored is None:
                raise RunNotFoundError(f"Workflow run {run_id!r} not found")
            current = _clone(stored)
        if expected_version is not None and current.version != expected_version:
            raise ResumeConflictError()
        lost = [claim for claim in fences if not self._holds(claim)]
        if lost:
            raise LeaseLost(lost)
        decided = change(current)
        for claim in fences:
            self._tasks.pop((claim.run_id, claim.key, claim.handout), None)
        if decided is None:
            return None
        if create is not None:
            now = datetime.now(UTC)
            self._runs[run_id] = replace(_copy(create), version=0, created_at=now, updated_at=now)
            self._steps[run_id] = {}
            self._events[run_id] = []
        return self._write(run_id, decided)

    def _write(self, run_id: str, change: Change) -> list[int]:
        stored = self._runs[run_id]
        unknown = set(change.run) - RUN_FIELDS
        if unknown:
            raise WorkflowError(f"Unknown run fields: {sorted(unknown)}")
        for key, value in change.run.items():
            setattr(stored, key, _json_copy(value) if key in _RUN_JSON else value)
        stored.version += 1
        stored.updated_at = datetime.now(UTC)
        table = self._steps[run_id]
        for step in change.steps:
            table[step.coordinate] = _copy(step)
        if change.reset is not None:
            self._reset(run_id, change.reset)
        now = self.clock()
        for task in change.tasks:
            self._insert(run_id, task, now)
        self._write_waits(run_id, change.waits)
        return self._append(run_id, change.events)

    def _reset(self, run_id: str, reset: str) -> None:
        for task_id, task in list(self._tasks.items()):
            if task_id[0] != run_id:
                continue
            if reset == "cancel" and task.status == TASK_RUNNING:
                task.status = TASK_CANCELED
            else:
                del self._tasks[task_id]

    def _insert(self, run_id: str, row: TaskRow, now: int) -> None:
        task_id = (run_id, row.key, row.handout)
        if task_id in self._tasks:
            raise WorkflowError(f"Task {row.key!r} #{row.handout} of run {run_id!r} exists already")
        self._next_task += 1
        task = _Task(id=self._next_task, row=row, available_at=now + row.delay_ms)
        if row.owner:
            task.status, task.owner, task.lease, task.lease_until = (
                TASK_RUNNING,
                row.owner,
                1,
                now + row.lease_ms,
            )
        self._tasks[task_id] = task

    def _append(self, run_id: str, events: Sequence[dict[str, Any]]) -> list[int]:
        log = self._events[run_id]
        seqs = []
        for event in events:
            seq = len(log) + 1
            log.append(log_entry(run_id, seq, {**event, "payload": _json_copy(event.get("payload"))}))
            seqs.append(seq)
        return seqs

    async def acommit(
        self,
        run_id: str,
        *,
        run: dict[str, Any] | None = None,
        events: Sequence[dict[str, Any]] = (),
        expected_version: int | None = None,
    ) -> list[int]:
        stored = self._runs.get(run_id)
        if stored is None:
            raise RunNotFoundError(f"Workflow run {run_id!r} not found")
        if expected_version is not None and stored.version != expected_version:
            raise ResumeConflictError()
        return self._write(run_id, Change(run=run or {}, events=events))

    # -- reading ------------------------------------------------------------------------
    async def aget_run(self, run_id: str) -> RunRecord | None:
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunRecord | None:
        run = self._runs.get(run_id)
        return _clone(run) if run else None

    async def aget_steps(self, run_id: str) -> list[StepRecord]:
        return [_clone(step) for step in self._steps.get(run_id, {}).values()]

    async def aget_step(self, run_id: str, path: str) -> StepRecord | None:
        best: StepRecord | None = None
        for step in self._steps.get(run_id, {}).values():
            if step.path != path or step.foreach_index is not None:
                continue
            if best is None or (step.iteration, step.attempt) >= (best.iteration, best.attempt):
                best = step
        return _clone(best) if best else None

    # -- what plan reads back, inside a commit --------------------------------------------
    def read_steps(self, run_id: str, coordinates: Sequence[Coordinate]) -> list[StepRecord]:
        table = self._steps.get(run_id, {})
        return [_clone(table[c]) for c in coordinates if c in table]

    def read_items(self, run_id: str, path: str, iteration: int) -> list[StepRecord]:
        return [
            _copy(row)
            for (p, index, it, _), row in self._steps.get(run_id, {}).items()
            if p == path and it == iteration and index is not None
        ]

    def read_output_item(self, run_id: str, coordinate: Coordinate, index: int) -> Any:
        row = self._steps.get(run_id, {}).get(coordinate)
        output = row.output if row is not None else None
        return _json_copy(output[index]) if isinstance(output, list) and 0 <= index < len(output) else None

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

    async def adelete_run(self, run_id: str) -> bool:
        existed = self._runs.pop(run_id, None) is not None
        self._steps.pop(run_id, None)
        self._events.pop(run_id, None)
        self._forget_run_events(run_id)
        for task_id in [task_id for task_id in self._tasks if task_id[0] == run_id]:
            del self._tasks[task_id]
        return existed

    # -- the task queue -----------------------------------------------------------------
    def _holds(self, claim: Claim) -> bool:
        task = self._tasks.get((claim.run_id, claim.key, claim.handout))
        return task is not None and task.status == TASK_RUNNING and task.lease == claim.lease

    async def aclaim(
        self, queues: Sequence[str], owner: str, limit: int, lease_ms: int, *, gated: bool = True
    ) -> list[Claim]:
        now = self.clock()
        due = [
            (task.available_at, task.id, task_id, task)
            for task_id, task in self._tasks.items()
            if task.status == TASK_QUEUED and task.row.queue in queues and task.available_at <= now
        ]
        claims: list[Claim] = []
        for _, _, (run_id, key, handout), task in sorted(due):
            if len(claims) >= limit:
                break
            gate = task.row.gate
            if gate.limit_key and not self._room(gate, now):
                continue
            if gate.rate_n:
                self._starts.setdefault(gate.limit_key, []).append(now + gate.rate_ms)
            task.status, task.owner, task.lease_until = TASK_RUNNING, owner, now + lease_ms
            task.lease += 1
            claims.append(
                Claim(run_id, key, handout, task.row.kind, task.lease, task.deliveries, bool(gate.limit_key))
            )
        return claims

    def _room(self, gate: Gate, now: int) -> bool:
        """Whether the key of ``gate`` may start one more now (see ``Storage.aclaim``)."""
        if gate.limit_n:
            held = sum(
                1
                for task in self._tasks.values()
                if task.row.gate.limit_key == gate.limit_key and task.status != TASK_QUEUED
            )
            held += sum(
                1 for run in self._runs.values() if run.limit_key == gate.limit_key and run.status in HOLDING
            )
            if held >= gate.limit_n:
                return False
        if gate.rate_n:
            starts = [until for until in self._starts.get(gate.limit_key, []) if until > now]
            self._starts[gate.limit_key] = starts
            if len(starts) >= gate.rate_n:
                return False
        return True

    async def arenew(self, claims: Sequence[Claim], lease_ms: int) -> set[tuple[str, str, int, int]]:
        held = set()
        for claim in claims:
            if self._holds(claim):
                self._tasks[(claim.run_id, claim.key, claim.handout)].lease_until = self.clock() + lease_ms
                held.add(claim.fence)
        return held

    async def arelease(self, claim: Claim, delay_ms: int) -> bool:
        if not self._holds(claim):
            return False
        task = self._tasks[(claim.run_id, claim.key, claim.handout)]
        task.status, task.owner, task.available_at = TASK_QUEUED, "", self.clock() + delay_ms
        return True

    async def adrop(self, claims: Sequence[Claim]) -> None:
        for claim in claims:
            task = self._tasks.get((claim.run_id, claim.key, claim.handout))
            if task is not None and task.status != TASK_QUEUED and task.lease == claim.lease:
                del self._tasks[(claim.run_id, claim.key, claim.handout)]

    async def asweep(self, queues: Sequence[str]) -> int:
        now = self.clock()
        taken = 0
        for task_id, task in list(self._tasks.items()):
            if task.row.queue not in queues or task.status == TASK_QUEUED or task.lease_until >= now:
                continue
            if task.status == TASK_CANCELED:
                del self._tasks[task_id]
                continue
            task.status, task.owner, task.available_at = TASK_QUEUED, "", now
            task.deliveries += 1
            taken += 1
        return taken

    async def aholders(self, run_id: str) -> set[str]:
        now = self.clock()
        return {
            task.owner
            for task_id, task in self._tasks.items()
            if task_id[0] == run_id and task.status != TASK_QUEUED and task.lease_until >= now
        }

    async def aowes(self, run_id: str, kinds: Sequence[str]) -> bool:
        return any(task_id[0] == run_id and task.row.kind in kinds for task_id, task in self._tasks.items())

    def tasks_of(self, run_id: str) -> list[dict[str, Any]]:
        """The run's task rows, for tests and the status report."""
        return [
            {
                "key": key,
                "handout": handout,
                "kind": task.row.kind,
                "status": task.status,
                "lease": task.lease,
            }
            for (rid, key, handout), task in self._tasks.items()
            if rid == run_id
        ]

    async def aheartbeat(self, worker: str, info: dict[str, Any]) -> None:
        self._workers[worker] = {**info, "worker": worker, "last_seen": datetime.now(UTC)}

    async def alive_workers(self, since: datetime) -> list[dict[str, Any]]:
        return [dict(w) for w in self._workers.values() if w["last_seen"] >= since]


def _copy(record: _T) -> _T:
    """A private copy with every JSON column passed through JSON, as a database stores it.

    So code that only works while data is still Python objects (integer dict keys,
    tuples, datetimes) fails here too, not only on the ORM storage.
    """
    if isinstance(record, RunRecord | StepRecord):
        columns = _RUN_JSON if isinstance(record, RunRecord) else _STEP_JSON
        return evolve(record, **_json_copy({name: getattr(record, name) for name in columns}))
    return _json_copy(record)  # type: ignore[no-any-return]


def _clone(record: _T) -> _T:
    """A private copy of a stored run or step record, whose JSON columns went through :func:`_copy`.

    They hold JSON's own types only (dicts, lists, strings, numbers, booleans,
    ``None``, none of them shared), so an exact copy is what a JSON round trip
    would give back; ``marshal`` (format 2: no shared references) makes it in
    about a third of the time, and the run is read this way at every commit.
    """
    columns = _RUN_JSON if isinstance(record, RunRecord) else _STEP_JSON
    values = {name: getattr(record, name) for name in columns}
    return evolve(record, **marshal.loads(marshal.dumps(values, 2)))  # noqa: S302 - our own bytes


def _json_copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


_RUN_JSON = ("input", "run_state", "request_context", "state", "result", "error", "snapshot", "trace_context")
_STEP_JSON = tuple(name for name in STEP_FIELDS if not name.endswith("_at") and name != "status")
