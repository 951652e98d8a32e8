"""What the engines need from persistence, as a protocol with plain records.

Invariants every implementation keeps:

- A run is one row; ``run_state`` is the small JSON state of :mod:`plan`.
- A step attempt is one row keyed by its coordinate ``(path, foreach_index,
  iteration, attempt)``; a commit upserts on that key.
- Events get a per-run ``seq`` that grows by one with no gap, assigned inside the
  same atomic commit that changed the run.
- The database is the queue: everything a run is owed (a step, a condition to
  evaluate, a timer, callbacks to call) is a task row written in the commit that
  owes it. A task row is ``queued`` until a worker claims it (``running``, with a
  lease number that grows at every claim and a lease end), and is deleted by the
  commit that applies its outcome. Every transition is conditional, and a lost
  race writes nothing: a claim takes only queued, due rows; renewing, completing
  and dropping a claim require the same lease number; the sweeper takes back only
  leases that expired, counting one more delivery; a cancel marks the run's
  running rows ``canceled`` so that their workers' renewals fail.
- Times of the queue (due times, lease ends) are the database's clock, never a
  worker's; an implementation may be given a clock instead, for tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from ._task_rows import (
    CALLBACKS,
    MATCH,
    TASK_CANCELED,
    TASK_QUEUED,
    TASK_RUNNING,
    TIMER,
    Claim,
    LeaseLost,
    TaskRow,
)

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
    parent_run_id: str | None = None
    snapshot: dict[str, Any] | None = None  # the view kept by should_persist_snapshot (stored_runs.py)
    owner: Any = None  # who started the run, opaque to the core (the Django app stores a user's pk)
    limit_key: str = ""  # the workflow limit's key it counts against (see limits.py); "" for none
    trace_context: dict[str, str] = field(default_factory=dict)  # of the code that started it (tracing.py)
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

    @property
    def coordinate(self) -> tuple[str, int | None, int, int]:
        return (self.path, self.foreach_index, self.iteration, self.attempt)


RUN_FIELDS = frozenset(RunRecord.__dataclass_fields__) - {"run_id", "created_at", "updated_at"}


@dataclass
class SentEvent:
    """An event sent to resume runs, kept until a run waiting on it takes it or it expires.

    ``run_id`` set: sent to that run only (``run.asend_event``); unset: to every
    run waiting on ``name`` and ``key``. Times are epoch milliseconds.
    """

    name: str
    data: Any = None
    key: str | None = None
    run_id: str | None = None
    id: int = 0
    sent_at: int = 0
    expires_at: int = 0
    taken_by: str | None = None


Reset = Literal["cancel", "drop"]


@dataclass
class Change:
    """What one commit writes to a run: columns, step rows, events, task rows.

    ``reset`` applies to the run's task rows already there (not those of this
    commit): ``"cancel"`` marks the running ones canceled and deletes the queued
    ones (a cancel, a bail); ``"drop"`` deletes them all (a restart or a time
    travel hands the work out anew). ``waits``, when given, replaces the index of
    the events the run's tasks wait for (the run state stays the truth: a
    sender checks it before delivering).
    """

    run: dict[str, Any]
    steps: Sequence[StepRecord] = ()
    events: Sequence[dict[str, Any]] = ()
    tasks: Sequence[TaskRow] = ()
    reset: Reset | None = None
    waits: Sequence[Sequence[Any]] | None = None  # [task key, event name, key] each; None: unchanged


@runtime_checkable
class Storage(Protocol):
    """Persistence of runs, step attempts, the event log and the task queue."""

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
        """Run ``change(run)`` on the run as committed and write what it returns, atomically.

        ``change`` may be called again (with a newer run) when another commit came
        first, so it must not act on the world. ``known`` is the run as the
        caller believes it committed: a storage may start from it instead of
        reading, as long as the version still matches when it writes. With
        ``create``, the run does not exist yet: ``change(create)`` is applied to
        it and the run is inserted in the same transaction (``WorkflowError`` if
        the id exists). ``fences`` are the claims this commit completes: their
        rows are deleted with it, and if one is no longer held nothing is written
        and :class:`LeaseLost` is raised. ``expected_version`` makes it a
        compare-and-set (``ResumeConflictError``). Returns the seqs of the
        events, or ``None`` when ``change`` wrote nothing (the fenced rows are
        deleted all the same).
        """

    def transact(
        self,
        run_id: str,
        change: Callable[[RunRecord], Change | None],
        *,
        create: RunRecord | None = None,
    ) -> list[int] | None:
        """``atransact`` on the calling thread, inside the caller's open transaction if any.

        This is how ``run.enqueue()`` writes a run in the transaction of the code
        that calls it (a Django view's ``transaction.atomic()``).
        """

    def get_run(self, run_id: str) -> RunRecord | None:
        """``aget_run`` on the calling thread, inside the caller's open transaction if any."""

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the caller's transaction commits (at once outside one);
        never if it rolls back."""

    async def acommit(
        self,
        run_id: str,
        *,
        run: dict[str, Any] | None = None,
        events: Sequence[dict[str, Any]] = (),
        expected_version: int | None = None,
    ) -> list[int]:
        """Change run columns and append events without ``plan`` (snapshots, a step's own events)."""

    async def aget_run(self, run_id: str) -> RunRecord | None:
        """The stored run, or ``None``."""

    async def aget_steps(self, run_id: str) -> list[StepRecord]:
        """Every step attempt row of the run."""

    async def aget_step(self, run_id: str, path: str) -> StepRecord | None:
        """The latest row of ``path`` (highest iteration, then attempt) outside foreach items."""

    # -- what plan reads back, on the thread of ``change`` and inside its transaction ------
    def read_steps(
        self, run_id: str, coordinates: Sequence[tuple[str, int | None, int, int]]
    ) -> list[StepRecord]:
        """The rows at these exact coordinates (those that exist)."""

    def read_items(self, run_id: str, path: str, iteration: int) -> list[StepRecord]:
        """Every row of foreach items (``foreach_index`` set) of ``path`` at ``iteration``, all attempts."""

    def read_output_item(self, run_id: str, coordinate: tuple[str, int | None, int, int], index: int) -> Any:
        """Element ``index`` of the list output of the row at ``coordinate`` (``None`` if absent)."""

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
        """Delete the run with its steps, events and tasks; ``False`` if it did not exist."""

    # -- the task queue ---------------------------------------------------------------
    async def aclaim(
        self, queues: Sequence[str], owner: str, limit: int, lease_ms: int, *, gated: bool = True
    ) -> list[Claim]:
        """Claim up to ``limit`` queued, due rows of ``queues``, oldest first, each with a new lease.

        ``gated=False`` says no row of these queues can have a gate (no workflow
        they serve has limits), which spares a claim the look for gated rows.

        A row with a gate is taken only while its key has room: fewer than
        ``limit_n`` rows of the key held (plus, for a workflow's key, its runs
        started and not ended) and fewer than ``rate_n`` claims of the key within
        the last ``rate_ms``; rows of one key are taken oldest first. The check and
        the claim are atomic across every claimer.
        """

    async def arenew(self, claims: Sequence[Claim], lease_ms: int) -> set[tuple[str, str, int, int]]:
        """Extend the leases still held (running, same lease number); returns their fences."""

    async def arelease(self, claim: Claim, delay_ms: int) -> bool:
        """Give a held row back to the queue, due after ``delay_ms``, without counting a delivery."""

    async def adrop(self, claims: Sequence[Claim]) -> None:
        """Delete the rows of claims still held: work that turned out stale, or a canceled step that ended."""

    async def asweep(self, queues: Sequence[str]) -> int:
        """Take back the expired leases of ``queues`` (one more delivery each); forget canceled rows.

        Returns how many leases were taken back.
        """

    async def aholders(self, run_id: str) -> set[str]:
        """The owners of the leases that have not expired on tasks of the run (who works on it now)."""

    async def aowes(self, run_id: str, kinds: Sequence[str]) -> bool:
        """Whether the run has task rows of these kinds (owed work, done or not yet)."""

    async def aheartbeat(self, worker: str, info: dict[str, Any]) -> None:
        """Record that a worker is alive, with what it says about itself."""

    # -- events sent to runs ------------------------------------------------------------
    async def awaiting_runs(self, name: str, key: str | None) -> list[str]:
        """Runs with a task waiting on event ``name`` with exactly this ``key``, oldest wait first."""

    async def akeep_event(self, event: SentEvent, keep_ms: int) -> SentEvent:
        """Store ``event`` for ``keep_ms``; forget the expired ones. Returns it with its id and times."""

    async def akept_events(self, run_id: str, waits: Sequence[tuple[str, str | None]]) -> list[SentEvent]:
        """Kept events, not expired and not taken, that the run may take, oldest first.

        Those sent to the run whose name is among ``waits``, and those sent to
        every run whose ``(name, key)`` is one of ``waits``.
        """

    async def atake_event(self, event_id: int, run_id: str) -> bool:
        """Mark a kept event taken by the run; ``False`` if another run took it first."""

    async def arelease_event(self, event_id: int, run_id: str) -> None:
        """Give back an event the run took but could not use (it stopped waiting meanwhile)."""

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


# Who an event is from when it does not say (the run itself, not one of its steps).
WORKFLOW_SOURCE = "WORKFLOW"


def event_source(event: Mapping[str, Any]) -> str:
    """Who an event to be logged is from (its ``from``)."""
    return str(event.get("from", WORKFLOW_SOURCE))


def log_entry(run_id: str, seq: int, event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as every storage's log gives it back (``aread_events``): one shape on every backend."""
    return {
        "type": event["type"],
        "run_id": run_id,
        "from": event_source(event),
        "payload": event.get("payload"),
        "seq": seq,
    }


# The queue's records (:mod:`._task_rows`) are part of this protocol's vocabulary.
__all__ = [
    "CALLBACKS",
    "MATCH",
    "RUN_FIELDS",
    "STEP_FIELDS",
    "TASK_CANCELED",
    "TASK_QUEUED",
    "TASK_RUNNING",
    "TIMER",
    "WORKFLOW_SOURCE",
    "Change",
    "Claim",
    "LeaseLost",
    "Reset",
    "RunRecord",
    "SentEvent",
    "StepRecord",
    "Storage",
    "TaskRow",
    "event_source",
    "latest_steps",
    "log_entry",
]
