"""What an engine needs from persistence, as a protocol with plain records.

Invariants every implementation keeps:

- A run is one row; ``run_state`` is the small JSON state of :mod:`plan`, never
  the step outputs, so a commit costs the same at step 10 and at step 10,000.
- A step attempt is one row keyed by its coordinate ``(path, foreach_index,
  iteration, attempt)``; :meth:`Storage.acommit` upserts on that key.
- Events get a per-run ``seq`` that grows by one with no gap, assigned inside the
  same atomic commit that changed the run.
- ``acommit`` is atomic. With ``expected_version`` it is a compare-and-set: it
  raises :class:`~workflows_app.core.errors.ResumeConflictError` when the run row
  changed since it was read, and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

STEP_FIELDS = (
    "status",
    "payload",
    "output",
    "error",
    "suspend_payload",
    "resume_payload",
    "suspend_output",
    "started_at",
    "ended_at",
    "suspended_at",
    "resumed_at",
    "metadata",
    "is_task",
)


@dataclass
class RunRecord:
    """One workflow run as stored."""

    run_id: str
    workflow_id: str
    status: str = "pending"
    resource_id: str | None = None
    input: Any = None
    run_state: dict[str, Any] = field(default_factory=dict)
    request_context: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error: dict[str, Any] | None = None
    definition_hash: str = ""
    engine: str = "default"
    generation: int = 0
    version: int = 0
    wake_at: datetime | None = None
    parent_run_id: str | None = None
    snapshot: dict[str, Any] | None = None  # the view kept by should_persist_snapshot (stored_runs.py)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class StepRecord:
    """One attempt of one step at one coordinate of a run.

    ``path`` is the dotted path of step ids from the root workflow
    (``"outer.inner"``); ``foreach_index`` is ``None`` except for the rows of single
    foreach items; ``iteration`` counts loop iterations from 1 (0 outside loops).
    Timestamps are epoch milliseconds, as in the event protocol.
    """

    path: str
    foreach_index: int | None = None
    iteration: int = 0
    attempt: int = 0
    status: str = "running"
    payload: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    suspend_payload: Any = None
    resume_payload: Any = None
    suspend_output: Any = None
    started_at: int | None = None
    ended_at: int | None = None
    suspended_at: int | None = None
    resumed_at: int | None = None
    metadata: dict[str, Any] | None = None
    is_task: bool = False
    # Written with the row, not part of the step: the worker that will run the
    # task, claimed in the commit that decided it (an evented worker running the
    # next step itself), and until when (epoch ms).
    claimed_by: str = ""
    claimed_until: int | None = None

    @property
    def coordinate(self) -> tuple[str, int | None, int, int]:
        return (self.path, self.foreach_index, self.iteration, self.attempt)


RUN_FIELDS = frozenset(RunRecord.__dataclass_fields__) - {"run_id", "created_at"}


@runtime_checkable
class Storage(Protocol):
    """Persistence of runs, step attempts and the event log."""

    async def acreate_run(self, run: RunRecord) -> None:
        """Insert a new run; raises ``WorkflowError`` if ``run_id`` exists."""

    async def aget_run(self, run_id: str) -> RunRecord | None:
        """The stored run, or ``None``."""

    async def acommit(
        self,
        run_id: str,
        *,
        run: dict[str, Any] | None = None,
        steps: Sequence[StepRecord] = (),
        events: Sequence[dict[str, Any]] = (),
        expected_version: int | None = None,
    ) -> list[int]:
        """Apply run field changes, step upserts and new events atomically.

        Returns the ``seq`` given to each event, in order. Bumps ``version``.
        """

    async def aget_steps(self, run_id: str) -> list[StepRecord]:
        """Every step attempt row of the run."""

    async def aget_step(self, run_id: str, path: str) -> StepRecord | None:
        """The latest row of ``path`` (highest iteration, then attempt) outside foreach items."""

    async def aread_events(
        self, run_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The run's events with ``seq > after_seq``, in order."""

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
        """Runs matching every given filter, newest first, and their total count."""

    async def adelete_run(self, run_id: str) -> bool:
        """Delete the run with its steps and events; ``False`` if it did not exist."""


Coordinate = tuple[str, int | None, int, int]
Change = tuple[dict[str, Any], Sequence[StepRecord], Sequence[dict[str, Any]]]


@dataclass
class StaleTask:
    """A task row still ``running`` whose worker lease ran out, or that no worker claimed."""

    run_id: str
    coordinate: Coordinate
    deliveries: int


@runtime_checkable
class TaskStorage(Storage, Protocol):
    """What the evented engine needs on top of :class:`Storage`: leases, timers, workers.

    A task row is claimed with a lease (``lease_until``, epoch ms) that its worker
    renews while the step runs; ``deliveries`` counts how often the task was handed
    out, apart from the step's own retries, so recovery can give up cleanly.
    """

    async def atransact(
        self, run_id: str, change: Callable[[RunRecord], Change | None], *, known: RunRecord | None = None
    ) -> list[int] | None:
        """Run ``change(run)`` on the run as committed and apply what it returns, atomically.

        ``change`` returns the run field changes, step upserts and events to write,
        or ``None`` to write nothing; it may be called again (with a newer run)
        when another commit came first, so it must not act on the world. ``known``
        is the run as the caller believes it committed: a storage may start from
        it instead of reading, as long as it checks the version when it writes.
        Returns the seqs of the events, or ``None`` when nothing was written.
        Exceptions roll back.
        """

    async def aclaim(self, run_id: str, coordinate: Coordinate, worker: str, until: int, now: int) -> bool:
        """Take the task row if it is running and unclaimed or its lease expired."""

    async def arenew(self, run_id: str, coordinate: Coordinate, worker: str, until: int) -> bool:
        """Extend our lease; ``False`` if the row is no longer ours or no longer running."""

    async def astale_tasks(self, now: int, unclaimed_for: int, limit: int = 100) -> list[StaleTask]:
        """Running task rows of running runs whose lease expired, or never claimed for ``unclaimed_for`` ms.

        Rows of runs that ended (a cancel leaves its running steps' rows as they
        were) are not stale: nothing will claim them, and returning them would
        crowd real work out of the ``limit``.
        """

    async def aredeliver(self, run_id: str, coordinate: Coordinate, now: int) -> int:
        """Count one more delivery and clear the lease; returns the delivery count."""

    async def adue_runs(self, now: datetime, limit: int = 100) -> list[str]:
        """Ids of active runs whose earliest timer is due."""

    async def aidle_runs(self, before: datetime, limit: int = 100) -> list[str]:
        """Ids of ``running`` runs not changed since ``before`` (work may have been lost)."""

    async def aheartbeat(self, worker: str, info: dict[str, Any]) -> None:
        """Record that a worker is alive, with what it says about itself."""

    async def alive_workers(self, since: datetime) -> list[dict[str, Any]]:
        """Workers whose last heartbeat is at or after ``since``."""


def latest_steps(rows: Sequence[StepRecord]) -> dict[str, StepRecord]:
    """Collapse attempt rows into the current record of each path.

    The current record of a path is its row (outside foreach items) with the
    highest ``(iteration, attempt)``: a loop shows its last iteration, a retried
    step its last attempt.
    """
    current: dict[str, StepRecord] = {}
    for row in rows:
        if row.foreach_index is not None:
            continue
        seen = current.get(row.path)
        if seen is None or (row.iteration, row.attempt) >= (seen.iteration, seen.attempt):
            current[row.path] = row
    return current
