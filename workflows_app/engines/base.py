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
import contextvars
import functools
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..core import lifecycle, runtime
from ..core.bus import Bus
from ..core.clock import now_ms
from ..core.results import build_result
from ..core.storage import CALLBACKS, Claim, RunRecord
from ._announce import aannounce, publish, ring_from_thread
from ._commits import (
    Caller,
    Committed,
    Committer,
    Deferred,
    DefinitionMismatchError,
    decider,
)
from ._holders import aholders
from ._options import DEFAULT_OPTIONS
from ._outcomes import OutcomeCommits
from ._waiting import SETTLING_EVENTS, await_settled, watching
from .live import LiveErrors
from .worker import Worker
from .writes import WriterBatches, acommit_writes

if TYPE_CHECKING:
    from ..core.engine import RunHandle
    from ..core.graph import WorkflowDefinition
    from ..core.storage import Reset, Storage
    from ._pipeline import Served


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
        self._outcomes = OutcomeCommits(self)
        self._writes = WriterBatches(
            functools.partial(acommit_writes, storage, self.bus),
            delay=float(self.options["writer_batch_ms"]) / 1000,
        )

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

    def worker_queues(self, worker: Served) -> list[str]:
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
        run: RunHandle,
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
        self, workflow: WorkflowDefinition, committed: Committed | None, committer: Committer
    ) -> None:
        """Announce a commit made for a caller; the steps a worker of this process took, it runs."""
        claims = await self.aafter_commit(workflow, committed, committer)
        adopt = getattr(committer, "adopt", None)
        if claims and adopt is not None and committed is not None:
            adopt(claims, committed.decision.record)

    async def acancel_run(self, run_id: str, workflow: WorkflowDefinition | None) -> None:
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
        """The live workers working on the run now (see :func:`._holders.aholders`)."""
        return await aholders(self.storage, run_id, float(self.options["heartbeat_seconds"]))

    # -- the commit -------------------------------------------------------------------------
    async def acommit(
        self,
        workflow: WorkflowDefinition | None,
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
        change, decided = decider(self, workflow, run_id, events, committer, fresh, reset, len(fences))
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

    # -- a start inside the caller's transaction -----------------------------------------------
    def enqueue_here(self, run: RunHandle, event: dict[str, Any], create: RunRecord) -> None:
        """Create and start the run in the caller's open transaction, on the caller's thread.

        Every task the start owes is queued (the caller claims nothing), so no
        step can run before the transaction commits: until then no other
        connection sees the rows. Only once it commits are the workers rung
        (a rollback leaves nothing to ring for); a lost doorbell only delays the
        run until a worker polls its queue.
        """
        change, decided = decider(self, run.workflow, run.run_id, [event], self.caller, None, None, 0)
        seqs = self.storage.transact(run.run_id, change, create=create)
        if seqs is None or not decided:
            return
        committed = decided[0]
        committed.seqs = seqs
        self.storage.on_commit(lambda: self._ring_from_thread(run.workflow, committed))

    def _ring_from_thread(self, workflow: WorkflowDefinition, committed: Committed) -> None:
        loops = [(worker, task.get_loop()) for worker, task in list(self._workers.values())]
        ring_from_thread(self.bus, loops, workflow, committed)

    # -- after the commit ---------------------------------------------------------------------
    async def aafter_commit(
        self, workflow: WorkflowDefinition, committed: Committed | None, committer: Committer
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
        publish(self.bus, committed)

    async def _aannounce(self, committed: Committed) -> None:
        await aannounce(self.bus, self.workers(), committed)

    async def arun_callbacks(
        self, workflow: WorkflowDefinition, claim: Claim, record: RunRecord | None
    ) -> None:
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
        """Append a step's own event (``writer``) to the run's log, in a batch (:mod:`.writes`)."""
        await self._writes.aadd(run_id, event)

    # -- outcomes of tasks ---------------------------------------------------------------------
    async def acommit_outcome(
        self,
        workflow: WorkflowDefinition,
        claim: Claim,
        event: dict[str, Any],
        *,
        known: RunRecord | None,
        committer: Committer,
    ) -> Committed | None:
        """Commit a task's outcome with the other outcomes of its run ready in this process.

        They go in one commit (:mod:`._outcomes`), which comes back to
        the last of them, whose caller carries out what follows; the others get
        ``None``. An outcome whose claim was lost (the lease expired and the task
        was handed to another worker, or the run was canceled) is dropped. What
        the run's steps wrote is committed first: the log has a step's writes
        before its result.
        """
        await self._writes.aflush(claim.run_id)
        return await self._outcomes.asubmit(claim.run_id, (workflow, event, claim, known, committer))

    # -- waiting -----------------------------------------------------------------------------------
    def watching(self, run_id: str) -> contextlib.AbstractAsyncContextManager[asyncio.Queue[dict[str, Any]]]:
        """The run's live events, from this process's hub and, across processes, from the bus."""
        return watching(self.bus, run_id)

    async def _await_settled(self, run_id: str, live: asyncio.Queue[dict[str, Any]]) -> str:
        return await await_settled(self.storage, run_id, live)

    async def await_settled(self, run_id: str) -> str:
        async with self.watching(run_id) as live:
            return await self._await_settled(run_id, live)

    # -- workers of this process -----------------------------------------------------------------
    def local_worker(self, *, name: str, capacity: int | None, doorbell: bool) -> Worker:
        """This process's worker for the running event loop, started on first need."""
        loop = asyncio.get_running_loop()
        for stale in [other for other in self._workers if other.is_closed()]:
            del self._workers[stale]
        if loop not in self._workers or self._workers[loop][1].done():  # none yet, or it ended
            worker = Worker(self, name=name, capacity=capacity)
            # A context of its own: the caller's may name the executor of a sync thread that
            # called in through async_to_sync (a sync view on an ASGI server's loop), which
            # stops with that call; the worker's database calls would fail from then on.
            task = loop.create_task(worker.arun(doorbell=doorbell), context=contextvars.Context())
            self._workers[loop] = (worker, task)
        return self._workers[loop][0]

    def workers(self) -> Iterator[Worker]:
        for worker, _ in self._workers.values():
            yield worker


__all__ = [
    "DEFAULT_OPTIONS",
    "SETTLING_EVENTS",
    "Caller",
    "Committed",
    "Committer",
    "Deferred",
    "DefinitionMismatchError",
    "Engine",
]
