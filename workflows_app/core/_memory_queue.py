"""The task queue of :class:`~workflows_app.core.memory.InMemoryStorage`: rows, leases, gates.

Kept apart from the runs and their log because it is a state machine of its
own (queued -> running -> deleted, or canceled; see :mod:`.storage`): every
transition here checks the lease number as the database's conditional
UPDATEs do, so a test on this storage loses the same races a worker would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ._task_rows import TASK_CANCELED, TASK_QUEUED, TASK_RUNNING, Claim, TaskRow
from .errors import WorkflowError
from .limits import HOLDING, Gate
from .storage import RunRecord

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


class QueueInMemory:
    """Task rows, their leases, the starts of rates and the workers' heartbeats, in dicts."""

    clock: Callable[[], int]
    _runs: dict[str, RunRecord]  # the storage's runs: those that hold a slot of a limit count

    def __init__(self) -> None:
        super().__init__()
        self._tasks: dict[TaskId, _Task] = {}
        self._next_task = 0
        self._workers: dict[str, dict[str, Any]] = {}
        self._starts: dict[str, list[int]] = {}  # a rate's claims: when each leaves its window

    # -- what a commit writes -----------------------------------------------------------
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

    def _complete(self, fences: Sequence[Claim]) -> None:
        """Delete the rows a commit completes (it checked first that it holds them)."""
        for claim in fences:
            self._tasks.pop((claim.run_id, claim.key, claim.handout), None)

    def _forget_run_tasks(self, run_id: str) -> None:
        for task_id in [task_id for task_id in self._tasks if task_id[0] == run_id]:
            del self._tasks[task_id]

    def _holds(self, claim: Claim) -> bool:
        task = self._tasks.get((claim.run_id, claim.key, claim.handout))
        return task is not None and task.status == TASK_RUNNING and task.lease == claim.lease

    # -- what workers do ------------------------------------------------------------------
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

    # -- who works on what ----------------------------------------------------------------
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
