"""The one pipeline both engines share: plan -> commit -> task rows -> claim -> run -> commit.

Every change to a run is ``plan`` applied to the run as committed, and written
with everything it owes in ONE storage transaction (:meth:`Engine.acommit`):
run columns, step rows, events, and a task row for each piece of work (a step, a
condition, a timer, the callbacks of a run that settled). Only then is anything
announced: events to this process's hub and to the bus, doorbells for queued
work, cancellations to the workers holding the run's tasks. The database is the
truth and the bus a doorbell: a lost message only delays work until a worker
polls.

Engines differ only in where work goes (:meth:`Engine.queue_for`) and who
claims it in the commit that creates it (:meth:`Engine.committer`): the default
engine claims every step for the worker of the calling process, the evented
engine queues them for worker processes. Callbacks, timers, cancel, restart and
"wait until the run settles" are written once, here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from asgiref.sync import async_to_sync

from ..core import lifecycle, runtime
from ..core.bus import Bus
from ..core.clock import now_ms
from ..core.commit import Decision, decide
from ..core.errors import RunNotFoundError, WorkflowError
from ..core.hub import hub
from ..core.plan import ACTIVE, plan
from ..core.results import build_result
from ..core.storage import CALLBACKS, MATCH, TIMER, Change, Claim, LeaseLost, RunRecord, TaskRow
from .batching import GroupCommit
from .limits import frees_slot, gated, held_start
from .live import LiveErrors
from .worker import LOCAL_WORKERS, Worker

if TYPE_CHECKING:
    from ..core.run import Run
    from ..core.storage import Reset, Storage
    from ..core.workflow import Workflow

logger = logging.getLogger(__name__)

# The engines' tuning, with their defaults: the WORKFLOWS settings of the same names in capitals.
DEFAULT_OPTIONS: dict[str, Any] = {
    # Steps a worker process runs at once (evented engine).
    "worker_concurrency": 4,
    # Seconds a claim on a task lasts unless its worker renews it (every third of it).
    "lease_seconds": 30.0,
    # How often an idle worker looks for due work; a doorbell wakes it at once.
    "poll_seconds": 1.0,
    # How often a worker takes back the expired leases of its queues.
    "sweep_seconds": 1.0,
    # How often a worker records that it is alive.
    "heartbeat_seconds": 2.0,
    # Expired leases of one task before it fails with TaskLostError (a step that kills its worker).
    "max_deliveries": 5,
    # Seconds a canceled step may take to finish after its abort signal, before it is cancelled.
    "cancel_grace_seconds": 10.0,
    # With no live worker, run a worker inside the calling process instead of failing (evented).
    "inline_when_no_worker": True,
    # Seconds an event that no run waits on yet is kept for the first run that suspends on it.
    "event_retention_seconds": 86400.0,
    # The most iterations one loop (dowhile / dountil) may run in a run; None: no cap.
    "max_loop_iterations": None,
}
SETTLING_EVENTS = frozenset(
    {"workflow-finish", "workflow-step-suspended", "workflow-paused", "workflow-canceled"}
)
_SETTLED_CHECK_SECONDS = 1.0
_DOORBELLS_PER_COMMIT = 8


class DefinitionMismatchError(WorkflowError):
    """This process has another version of the workflow than the one the run started with."""


class Committer(Protocol):
    """Who applies a commit: a worker, or the process of a caller (``run.astart()`` and the like)."""

    id: str

    def claimable(self, freed: int = 0) -> int | None:
        """How many of the commit's new tasks it takes for itself (``None``: all of them).

        ``freed`` is how many tasks the commit completes: their slots are free
        once it is written (unless the committer is stopping).
        """


@dataclass
class Caller:
    """A process that starts, resumes or cancels runs without running their steps itself."""

    id: str = field(default_factory=lambda: f"caller-{socket.gethostname()}-{os.getpid()}")

    def claimable(self, freed: int = 0) -> int | None:
        return 0


@dataclass
class Deferred:
    """A committer for a commit written inside a larger transaction: it takes none of its tasks.

    Nothing may run before that transaction commits, so the tasks wait in the
    queue they would have gone to; ``afollow`` rings for them afterwards.
    """

    id: str

    def claimable(self, freed: int = 0) -> int | None:
        return 0


@dataclass
class Committed:
    """A written commit: what it decided, the seqs of its events, the task rows it wrote."""

    decision: Decision
    rows: list[TaskRow]
    seqs: list[int] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return str(self.decision.state["run_id"])

    def claims_of(self, committer: Committer, *, kinds: Sequence[str] | None = None) -> list[Claim]:
        """The rows this commit claimed for ``committer`` (lease number 1)."""
        return [
            row.claimed(self.run_id)
            for row in self.rows
            if row.owner == committer.id and (kinds is None or row.kind in kinds)
        ]

    @property
    def queued(self) -> list[TaskRow]:
        return [row for row in self.rows if not row.owner]


# An outcome as GroupCommit carries it: workflow, event, the claim it completes, the run as known.
_Outcome = tuple["Workflow", dict[str, Any], Claim, RunRecord | None, Committer]


class Engine:
    """Carries out ``plan``: commits, task rows, claims, announcements. Decides nothing."""

    name = "engine"
    shared_queue = "engine"

    def __init__(self, storage: Storage, bus: Bus | None = None, **options: Any) -> None:
        self.storage = storage
        self.bus: Bus = bus or runtime.get_bus()
        self.options = {**DEFAULT_OPTIONS, **options}
        self.errors = LiveErrors()
        self.caller = Caller()
        self._workers: dict[asyncio.AbstractEventLoop, tuple[Worker, asyncio.Task[None]]] = {}
        self._outcomes: GroupCommit[_Outcome, Committed | None] = GroupCommit(self._acommit_outcomes)

    # -- placement: what the engines override ---------------------------------------------
    def queue_of(self, workflow_id: str) -> str:
        """The shared queue of one workflow's runs on this engine.

        One queue per workflow, so that a worker claims and sweeps only the work
        of the workflows it serves: a process with another set of workflows
        never takes (and so never delays) the tasks of runs it cannot run.
        """
        return f"{self.shared_queue}/{workflow_id}"

    def queue_for(self, kind: str, committer: Committer, workflow_id: str) -> str:
        """The queue a new task of ``kind`` of a run of ``workflow_id`` goes to."""
        return self.queue_of(workflow_id)

    def committer(self) -> Committer:
        """Who commits the changes callers ask for (start, resume, restart, cancel)."""
        return self.caller

    def worker_queues(self, worker: Worker) -> list[str]:
        """The queues ``worker`` claims from and sweeps: those of the workflows it serves."""
        return [self.queue_of(workflow_id) for workflow_id in worker.serves()]

    def deferred_committer(self) -> Committer:
        """The committer of a commit inside a larger transaction (see :class:`Deferred`)."""
        return Deferred(self.committer().id)

    async def aready(self) -> None:
        """Make sure some worker will take the work, or say clearly that none will."""

    @property
    def lease_ms(self) -> int:
        return int(float(self.options["lease_seconds"]) * 1000)

    # -- what runs ask for -----------------------------------------------------------------
    async def aexecute(
        self,
        run: Run,
        event: dict[str, Any],
        *,
        create: RunRecord | None = None,
        fresh: dict[str, Any] | None = None,
        reset: Reset | None = None,
        expected_version: int | None = None,
        wait: bool = True,
    ) -> None:
        """Apply ``event`` to the run (creating it in the same commit with ``create``).

        ``fresh`` replaces run columns before ``plan`` sees the run (a time travel
        starts from a new run state), ``reset="drop"`` drops the run's task rows
        in the same commit (restart, time travel). With ``wait``, returns once the
        run settled and its callbacks ran.
        """
        await self.aready()
        committer = self.committer()
        committed = await self.acommit(
            run.workflow,
            run.run_id,
            [event],
            committer=committer,
            create=create,
            fresh=fresh,
            reset=reset,
            expected_version=expected_version,
        )
        if committed is not None and event["type"] == "start" and committed.decision.record is not None:
            await lifecycle.astarted(run.workflow, committed.decision.record)
        if not wait:
            await self._aafter_commit_here(run.workflow, committed, committer)
            return
        async with self.watching(run.run_id) as live:
            await self._aafter_commit_here(run.workflow, committed, committer)
            run.status = await self._await_settled(run.run_id, live)

    async def _aafter_commit_here(
        self, workflow: Workflow, committed: Committed | None, committer: Committer
    ) -> None:
        """Announce a commit made for a caller; the steps a worker of this process took, it runs."""
        claims = await self.aafter_commit(workflow, committed, committer)
        adopt = getattr(committer, "adopt", None)
        if claims and adopt is not None and committed is not None:
            adopt(claims, committed.decision.record)

    async def acancel_run(self, run_id: str, workflow: Workflow | None) -> None:
        """Cancel the run in one commit; ``workflow`` may be ``None`` where its definition is unknown.

        A cancel needs no graph: every task row of the run is marked canceled and
        its holders see their abort signal at their next renewal (at once, if
        the broadcast reaches them). Without the definition this process cannot
        tell whether the run has callbacks, so the commit owes them in any case,
        queued for a process that has the workflow. It does not wait for a live
        worker (``aready``): a cancel commits whether or not any worker is up.
        """
        committer = self.committer()
        committed = await self.acommit(
            workflow, run_id, [{"type": "cancel", "now": now_ms()}], committer=committer
        )
        if workflow is not None:
            await self._aafter_commit_here(workflow, committed, committer)
        elif committed is not None:
            self.publish(committed)
            await self._aannounce(committed)

    def live_exceptions(self, run_id: str) -> dict[str, BaseException]:
        return self.errors.of(run_id)

    def abandon(self, run_id: str) -> None:
        """Make this process's workers drop the run's tasks without writing (crash tests)."""
        for worker, _ in self._workers.values():
            worker.abandon(run_id)

    def holds(self, run_id: str) -> bool:
        """Whether a worker of this process is working on the run."""
        return any(worker.works_on(run_id) for worker in self.workers())

    async def aholders(self, run_id: str) -> list[str]:
        """The live workers working on the run now: each holds a lease on one of its tasks.

        A lease outlives a killed worker by up to ``lease_seconds``, so a lease
        alone does not say someone works on the run. A worker of this process
        counts while it runs the task (one that let it go, as ``testing.acrash``
        does, is as good as dead); another process's worker counts while its
        heartbeat is fresh (three beats). Restart is refused while this is not
        empty: the run would have its steps run twice at once.
        """
        owners = await self.storage.aholders(run_id)
        if not owners:
            return []
        since = datetime.now(UTC) - timedelta(seconds=3 * float(self.options["heartbeat_seconds"]))
        alive = {str(row["worker"]) for row in await self.storage.alive_workers(since)}
        holding = []
        for owner in sorted(owners):
            here = LOCAL_WORKERS.get(owner)
            if here.works_on(run_id) if here is not None else owner in alive:
                holding.append(owner)
        return holding

    # -- the commit -------------------------------------------------------------------------
    async def acommit(
        self,
        workflow: Workflow | None,
        run_id: str,
        events: list[dict[str, Any]],
        *,
        committer: Committer,
        known: RunRecord | None = None,
        create: RunRecord | None = None,
        fresh: dict[str, Any] | None = None,
        reset: Reset | None = None,
        fences: Sequence[Claim] = (),
        expected_version: int | None = None,
    ) -> Committed | None:
        """``plan`` applied to the run as committed, written with what it owes; ``None``: no change."""
        change, decided = self._decider(workflow, run_id, events, committer, fresh, reset, len(fences))
        seqs = await self.storage.atransact(
            run_id,
            change,
            known=known,
            create=create,
            fences=fences,
            expected_version=expected_version,
        )
        if seqs is None or not decided:
            return None
        committed = decided[0]
        committed.seqs = seqs
        return committed

    def _decider(
        self,
        workflow: Workflow | None,
        run_id: str,
        events: list[dict[str, Any]],
        committer: Committer,
        fresh: dict[str, Any] | None,
        reset: Reset | None,
        freed: int,
    ) -> tuple[Callable[[RunRecord], Change | None], list[Committed]]:
        """The ``change`` a storage applies to the run as committed, and where it leaves its decision.

        The storage may call ``change`` more than once (another commit came
        first); the list holds the decision of the call that was written.
        """
        decided: list[Committed] = []

        def change(record: RunRecord) -> Change | None:
            decided.clear()
            if (
                workflow is not None
                and record.definition_hash
                and record.definition_hash != workflow.definition_hash
            ):
                raise DefinitionMismatchError(
                    f"Run {run_id} was started with definition {record.definition_hash} of "
                    f"{workflow.id!r}; this process has {workflow.definition_hash}"
                )
            held = held_start(workflow, record, events, self.queue_of(record.workflow_id))
            if held is not None:  # over its workflow's limit: created pending, admitted later
                decided.append(Committed(decision=held[1], rows=held[2]))
                return held[0]
            base = replace(record, **fresh) if fresh else record
            state, actions = base.run_state, []
            for event in events:
                state, more = plan(
                    workflow, state, event, max_loop_iterations=self.options["max_loop_iterations"]
                )
                actions += more
            if not actions:
                return None
            decision = decide(state, actions)
            decision.record = replace(base, **decision.run, version=record.version + 1)
            rows = self._rows(workflow, decision, committer, events[-1]["now"], freed)
            decided.append(Committed(decision=decision, rows=rows))
            return Change(
                run={**(fresh or {}), **decision.run},
                steps=decision.steps,
                events=decision.events,
                tasks=rows,
                reset="cancel" if decision.cancels else reset,
                waits=decision.waits,
            )

        return change, decided

    # -- a start inside the caller's transaction -----------------------------------------------
    def enqueue_here(self, run: Run, event: dict[str, Any], create: RunRecord) -> None:
        """Create and start the run in the caller's open transaction, on the caller's thread.

        Every task the start owes is queued (the caller claims nothing), so no
        step can run before the transaction commits: until then no other
        connection sees the rows. Only once it commits are the workers rung
        (a rollback leaves nothing to ring for); a lost doorbell only delays the
        run until a worker polls its queue.
        """
        change, decided = self._decider(run.workflow, run.run_id, [event], self.caller, None, None, 0)
        seqs = self.storage.transact(run.run_id, change, create=create)
        if seqs is None or not decided:
            return
        committed = decided[0]
        committed.seqs = seqs
        self.storage.on_commit(lambda: self._ring_from_thread(run.workflow, committed))

    def _ring_from_thread(self, workflow: Workflow, committed: Committed) -> None:
        """After the caller's commit, from its thread: wake the workers of this process, ring the rest."""
        for worker, task in list(self._workers.values()):
            loop = task.get_loop()
            if loop.is_closed():
                continue
            for row in committed.queued:
                if row.queue in worker.queues:
                    loop.call_soon_threadsafe(worker.wake_in, row.delay_ms)
        ready = sum(1 for row in committed.queued if not row.delay_ms)
        try:
            if workflow.on_start is not None and committed.decision.record is not None:
                async_to_sync(lifecycle.astarted)(workflow, committed.decision.record)
            if not self.bus.local:
                for _ in range(min(ready, _DOORBELLS_PER_COMMIT)):
                    async_to_sync(self.bus.asend)({"type": "wake"})
        except Exception:  # committed already: workers find the work when they poll
            logger.exception("Could not ring for the work of run %s; workers will find it", committed.run_id)

    def _rows(
        self, workflow: Workflow | None, decision: Decision, committer: Committer, now: int, freed: int
    ) -> list[TaskRow]:
        """The task rows a decision owes; its committer takes what it can run for itself at once.

        Steps and flow decisions go to the committer up to what it has room for
        (counting the slots of the tasks this commit completes; nothing when it
        is stopping); the rest wait in the queue. Timers wait until due. A run
        that settled owes its callbacks, which the committer runs right after the
        commit.
        """
        budget = committer.claimable(freed)
        workflow_id = decision.record.workflow_id if decision.record is not None else ""
        rows = []
        for key, task in decision.runs:
            kind = task["kind"]
            row = TaskRow(key, task["handout"], kind, self.queue_for(kind, committer, workflow_id))
            row = gated(row, workflow, decision.state, task)
            if (budget is None or budget > 0) and not row.gate.limit_key:
                budget = None if budget is None else budget - 1
                row = replace(row, owner=committer.id, lease_ms=self.lease_ms)
            rows.append(row)
        for key, due, number in decision.timers:
            queue = self.queue_for(TIMER, committer, workflow_id)
            rows.append(TaskRow(key, number, TIMER, queue, delay_ms=max(0, due - now)))
        for key, number in decision.matches:
            rows.append(TaskRow(key, number, MATCH, self.queue_for(MATCH, committer, workflow_id)))
        if decision.settled and _owes_callbacks(workflow):
            version = decision.record.version if decision.record is not None else 0
            row = TaskRow(CALLBACKS, version, CALLBACKS, self.queue_for(CALLBACKS, committer, workflow_id))
            # Without the definition here, a process that has it claims them from the queue.
            rows.append(row if workflow is None else replace(row, owner=committer.id, lease_ms=self.lease_ms))
        return rows

    # -- after the commit ---------------------------------------------------------------------
    async def aafter_commit(
        self, workflow: Workflow, committed: Committed | None, committer: Committer
    ) -> list[Claim]:
        """Announce a written commit; the steps its committer claimed are returned for it to run.

        A run that settled has its callbacks called here, before its events go
        out: whoever waits for the run returns on its last event, and the
        callbacks must have run by then. Everything announced is already
        committed, so an announcement that fails only delays work.
        """
        if committed is None:
            return []
        callbacks = committed.claims_of(committer, kinds=(CALLBACKS,))
        if callbacks:
            await self.arun_callbacks(workflow, callbacks[0], committed.decision.record)
        self.publish(committed)
        await self._aannounce(committed)
        return [claim for claim in committed.claims_of(committer) if claim.kind != CALLBACKS]

    def publish(self, committed: Committed) -> None:
        """Send the commit's events to this process's listeners and, through the bus, to the others."""
        events = [
            {**event, "seq": seq}
            for event, seq in zip(committed.decision.events, committed.seqs, strict=True)
        ]
        for event in events:
            hub.publish(committed.run_id, event)
        if events and not self.bus.local:
            task = asyncio.ensure_future(self._apublish(committed.run_id, events))
            _background.add(task)
            task.add_done_callback(_background.discard)

    async def _apublish(self, run_id: str, events: list[dict[str, Any]]) -> None:
        try:
            await self.bus.apublish(run_id, events)
        except Exception:  # fan-out is best effort: the log has the events
            logger.exception("Could not fan out events of run %s", run_id)

    async def _aannounce(self, committed: Committed) -> None:
        """Doorbells for queued work, local wake-ups for timers, cancellations to workers."""
        for worker, _ in self._workers.values():
            if committed.decision.cancels:
                worker.on_cancel(committed.run_id)
            queues = set(worker.queues)
            for row in committed.queued:
                if row.queue in queues:
                    worker.wake_in(row.delay_ms)
        ready = sum(1 for row in committed.queued if not row.delay_ms)
        if frees_slot(committed.decision):  # runs held back by the limit may start now
            ready += 1
            for worker, _ in self._workers.values():
                worker.wake()
        try:
            if committed.decision.cancels:
                await self.bus.abroadcast({"type": "cancel", "run_id": committed.run_id})
            for _ in range(min(ready, _DOORBELLS_PER_COMMIT)):
                await self.bus.asend({"type": "wake"})
        except Exception:  # committed already: workers find the work when they poll
            logger.exception("Could not ring for the work of run %s; workers will find it", committed.run_id)

    async def arun_callbacks(self, workflow: Workflow, claim: Claim, record: RunRecord | None) -> None:
        """Call ``on_finish`` / ``on_error`` of a settled run, then let the queue forget them.

        At least once: the row stays until they returned, and if this process dies
        first its lease expires and a sweeper hands them to another worker.
        """
        async with self.keeping([claim]):
            record = record or await self.storage.aget_run(claim.run_id)
            if record is not None:
                rows = await self.storage.aget_steps(claim.run_id)
                result = build_result(record, rows, exceptions=self.errors.of(claim.run_id))
                await lifecycle.asettled(workflow, record, result)
        await self.storage.adrop([claim])

    @contextlib.asynccontextmanager
    async def keeping(self, claims: Sequence[Claim]) -> AsyncIterator[None]:
        """Renew ``claims`` while the block runs (for work done outside a worker's slots)."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(float(self.options["lease_seconds"]) / 3)
                await self.storage.arenew(claims, self.lease_ms)

        keeper = asyncio.ensure_future(renew())
        try:
            yield
        finally:
            keeper.cancel()

    async def aemit(self, run_id: str, event: dict[str, Any]) -> None:
        """Append a step's own event (``writer``) to the run's log and fan it out."""
        seqs = await self.storage.acommit(run_id, events=[event])
        published = {**event, "seq": seqs[0]}
        hub.publish(run_id, published)
        if not self.bus.local:
            await self._apublish(run_id, [published])

    # -- outcomes of tasks ---------------------------------------------------------------------
    async def acommit_outcome(
        self,
        workflow: Workflow,
        claim: Claim,
        event: dict[str, Any],
        *,
        known: RunRecord | None,
        committer: Committer,
    ) -> Committed | None:
        """Commit a task's outcome with the other outcomes of its run ready in this process.

        They go in one commit (:class:`~.batching.GroupCommit`), which comes back to
        the last of them, whose caller carries out what follows; the others get
        ``None``. An outcome whose claim was lost (the lease expired and the task
        was handed to another worker, or the run was canceled) is dropped.
        """
        return await self._outcomes.submit(claim.run_id, (workflow, event, claim, known, committer))

    async def _acommit_outcomes(self, run_id: str, items: list[_Outcome]) -> list[Committed | None]:
        while items:
            workflow, _, _, known, committer = items[-1]
            try:
                committed = await self.acommit(
                    workflow,
                    run_id,
                    [event for _, event, _, _, _ in items],
                    committer=committer,
                    known=known if len(items) == 1 else None,
                    fences=[claim for _, _, claim, _, _ in items],
                )
            except LeaseLost as lost:
                gone = {claim.fence for claim in lost.lost}
                logger.info("Dropping %d outcome(s) of run %s whose claim was lost", len(gone), run_id)
                await self.storage.adrop(lost.lost)
                kept = [item for item in items if item[2].fence not in gone]
                return _results(items, kept, await self._acommit_outcomes(run_id, kept) if kept else [])
            return [None] * (len(items) - 1) + [committed]
        return []

    # -- waiting -----------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def watching(self, run_id: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """The run's live events, from this process's hub and, across processes, from the bus.

        Events that arrive through the bus are handed to the hub too: streams in
        this process (``run.astream()``) listen there. If the bus cannot be
        reached, the hub and reading the run are enough: waiting only gets slower.
        """
        live, unsubscribe = hub.queue(run_id)
        relay: asyncio.Task[None] | None = None
        try:
            async with contextlib.AsyncExitStack() as stack:
                if not self.bus.local:
                    try:
                        remote = await stack.enter_async_context(self.bus.watch(run_id))
                        relay = asyncio.ensure_future(_relay(run_id, remote))
                    except Exception:
                        logger.warning("Cannot watch run %s on the bus; reading the database instead", run_id)
                yield live
        finally:
            if relay is not None:
                relay.cancel()
            unsubscribe()

    async def _await_settled(self, run_id: str, live: asyncio.Queue[dict[str, Any]]) -> str:
        """The run's status once it settled and its callbacks ran.

        Read when an event that may settle the run arrives, and now and then in
        case the announcement was lost.
        """
        while True:
            record = await self.storage.aget_run(run_id)
            if record is None:
                raise RunNotFoundError(f"Workflow run {run_id!r} not found")
            if record.status not in ACTIVE and not await self.storage.aowes(run_id, (CALLBACKS,)):
                return record.status
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_SETTLED_CHECK_SECONDS):
                    while (await live.get()).get("type") not in SETTLING_EVENTS:
                        pass

    async def await_settled(self, run_id: str) -> str:
        async with self.watching(run_id) as live:
            return await self._await_settled(run_id, live)

    # -- workers of this process -----------------------------------------------------------------
    def local_worker(self, *, name: str, capacity: int | None, doorbell: bool) -> Worker:
        """This process's worker for the running event loop, started on first need."""
        loop = asyncio.get_running_loop()
        for stale in [other for other in self._workers if other.is_closed()]:
            del self._workers[stale]
        if loop not in self._workers:
            worker = Worker(self, name=name, capacity=capacity)
            self._workers[loop] = (worker, loop.create_task(worker.arun(doorbell=doorbell)))
        return self._workers[loop][0]

    def workers(self) -> Iterator[Worker]:
        for worker, _ in self._workers.values():
            yield worker


_background: set[asyncio.Task[None]] = set()


def _owes_callbacks(workflow: Workflow | None) -> bool:
    """Whether a run that settles owes callbacks (an unknown definition may have some)."""
    return workflow is None or workflow.on_finish is not None or workflow.on_error is not None


async def _relay(run_id: str, remote: asyncio.Queue[dict[str, Any]]) -> None:
    while True:
        hub.publish(run_id, await remote.get())


def _results(
    items: list[_Outcome], kept: list[_Outcome], results: list[Committed | None]
) -> list[Committed | None]:
    """One result per item of ``items``: those of ``kept`` in order, ``None`` for the dropped."""
    by_fence = {item[2].fence: result for item, result in zip(kept, results, strict=True)}
    return [by_fence.get(item[2].fence) for item in items]
