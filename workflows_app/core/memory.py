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
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from ._memory_queue import QueueInMemory
from ._task_rows import Claim, LeaseLost
from .errors import ResumeConflictError, RunExistsError, RunNotFoundError, WorkflowError
from .memory_events import EventsInMemory
from .records import evolve
from .storage import RUN_FIELDS, STEP_FIELDS, Change, RunRecord, StepRecord, log_entry

_T = TypeVar("_T")
Coordinate = tuple[str, int | None, int, int]


def _wall_clock() -> int:
    return int(time.time() * 1000)


class InMemoryStorage(EventsInMemory, QueueInMemory):
    """Runs, steps and the event log in dicts; waits and the task queue come from its bases."""

    def __init__(self, clock: Callable[[], int] = _wall_clock) -> None:
        super().__init__()
        self.clock = clock
        self._runs: dict[str, RunRecord] = {}
        self._steps: dict[str, dict[Coordinate, StepRecord]] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}

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
        self._complete(fences)
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
        self._forget_run_tasks(run_id)
        return existed


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
