"""The evented engine: runs move forward by messages, executed by workers.

The database is the source of truth and the bus only a doorbell (ARCHITECTURE.md
§3). Every change to a run is ``plan`` applied inside one storage transaction with
the run row locked (:meth:`EventedEngine.apply`); what it decides is written there
(task rows as ``running`` with their input, events with their seq) and only then
announced: task messages to workers, events to watchers, timers armed locally
with the sweeper as the durable fallback. Steps run in workers
(:mod:`workflows_app.engines.worker`); with a bus that only reaches this process,
a worker runs here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..core import lifecycle, runtime
from ..core.bus import Bus, InMemoryBus
from ..core.commit import Commit, commit_for, coordinate_of
from ..core.errors import ResumeConflictError, RunNotFoundError, WorkflowError
from ..core.hub import hub
from ..core.plan import plan
from ..core.results import build_result
from ..core.run import now_ms
from ..core.storage import RunRecord
from .batching import GroupCommit
from .live import LiveErrors

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..core.run import Run
    from ..core.storage import Change, TaskStorage
    from ..core.workflow import Workflow
    from .worker import Worker

logger = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "concurrency": 4,
    "lease_seconds": 30.0,
    "sweep_seconds": 0.25,
    "unclaimed_seconds": 5.0,
    "heartbeat_seconds": 2.0,
    "max_deliveries": 5,
    "inline_when_no_worker": True,
}
_SETTLED_CHECK_SECONDS = 0.5
_FINISH_GRACE_SECONDS = 5.0
_MAY_SETTLE = frozenset({"workflow-finish", "workflow-step-suspended"})
_APPLY_CHECK_SECONDS = 0.005
# A task's outcome as GroupCommit carries it: the workflow, the task-done event, the run as the
# reporting worker last committed it, the claim for the next step.
_Outcome = tuple["Workflow", dict[str, Any], RunRecord | None, tuple[str, int] | None]


class NoWorkerError(WorkflowError):
    """No workflow worker is alive: start one with `python manage.py workflows_worker`."""


class DefinitionMismatchError(WorkflowError):
    """This process has another version of the workflow than the one the run started with."""


class EventedEngine:
    """Applies ``plan`` under the run-row lock and hands tasks to workers."""

    name = "evented"

    def __init__(self, storage: TaskStorage, bus: Bus | None = None, **options: Any) -> None:
        self.storage = storage
        self.bus: Bus = bus or runtime.get_bus()
        self.options = {**DEFAULTS, **options}
        self.errors = LiveErrors()
        self._embedded: dict[asyncio.AbstractEventLoop, tuple[Worker, asyncio.Task[None]]] = {}
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._firing: set[asyncio.Task[None]] = set()
        self._applying: Counter[str] = Counter()
        self._applying_lock = threading.Lock()
        self._outcomes: GroupCommit[_Outcome, Commit | None] = GroupCommit(self._apply_outcomes)

    # -- the Engine protocol ------------------------------------------------------
    async def aready(self) -> None:
        """Make sure some worker will pick the work up, or say clearly that none will."""
        if self.bus.local:
            self.aensure_embedded_worker()
            return
        since = datetime.now(UTC) - timedelta(seconds=3 * float(self.options["heartbeat_seconds"]))
        if await self.storage.alive_workers(since):
            return
        if not self.options["inline_when_no_worker"]:
            raise NoWorkerError()
        logger.warning("No live workflow worker; running one inside this process")
        self.aensure_embedded_worker()

    async def aexecute(
        self, run: Run, event: dict[str, Any], *, expected_version: int | None = None, wait: bool = True
    ) -> None:
        if event["type"] != "start":
            await self.aready()
        if not wait:
            await self._astart_callback(run, event)
            await self._aadvance(run, event, expected_version)
            return
        async with self.bus.watch(run.run_id) as live:
            await self._astart_callback(run, event)
            await self._aadvance(run, event, expected_version)
            run.status = await self._await_settled(run.run_id, live)
        await self._await_applied(run.run_id)

    async def _aadvance(self, run: Run, event: dict[str, Any], expected_version: int | None) -> None:
        commit = await self.apply(run.workflow, run.run_id, event, expected_version)
        if commit is not None and event["type"] == "restart":
            # Whoever restarts a run declares the process that ran it dead: free
            # its claims, which would otherwise hold the steps until they expire.
            for _, task in commit.runs:
                if task["kind"] == "step":
                    await self.storage.aredeliver(run.run_id, coordinate_of(task), now_ms())
        await self.afollow(run.workflow, run.run_id, commit)

    async def acancel(self, run: Run) -> None:
        commit = await self.apply(run.workflow, run.run_id, {"type": "cancel", "now": now_ms()})
        await self.afollow(run.workflow, run.run_id, commit)

    def live_exceptions(self, run_id: str) -> dict[str, BaseException]:
        return self.errors.of(run_id)

    def abandon(self, run_id: str) -> None:
        """Make the workers of this process drop the run's tasks without writing (crash tests)."""
        for worker, _ in self._embedded.values():
            worker.abandon(run_id)

    # -- applying plan ------------------------------------------------------------
    async def apply(
        self,
        workflow: Workflow,
        run_id: str,
        event: dict[str, Any],
        expected_version: int | None = None,
        *,
        known: RunRecord | None = None,
        claim: tuple[str, int] | None = None,
    ) -> Commit | None:
        """``plan`` applied atomically to the run; ``None`` when the event changed nothing.

        ``known`` is the run as the caller last committed it (storage may start
        from it instead of reading the run); ``claim`` (worker, lease end) claims
        the commit's lone next step for that worker in the same write.
        """
        with self._counted(run_id):
            return await self._apply(workflow, run_id, [event], expected_version, known, claim)

    async def apply_outcome(
        self,
        workflow: Workflow,
        run_id: str,
        event: dict[str, Any],
        *,
        known: RunRecord | None = None,
        claim: tuple[str, int] | None = None,
    ) -> Commit | None:
        """Apply a task's ``task-done`` with the other outcomes of its run ready in this process.

        They go in one commit (:class:`~.batching.GroupCommit`), which comes back
        to the last of them, whose caller carries out what follows; the others
        get ``None``.
        """
        return await self._outcomes.submit(run_id, (workflow, event, known, claim))

    async def _apply_outcomes(self, run_id: str, items: list[_Outcome]) -> list[Commit | None]:
        workflow, _, known, claim = items[-1]
        events = [event for _, event, _, _ in items]
        with self._counted(run_id):
            commit = await self._apply(
                workflow, run_id, events, None, known if len(items) == 1 else None, claim
            )
        return [None] * (len(items) - 1) + [commit]

    @contextlib.contextmanager
    def _counted(self, run_id: str) -> Iterator[None]:
        """Count a change as in flight until the settle callbacks it triggers have returned,
        so a caller of this process that sees the run settled can wait for them."""
        with self._applying_lock:
            self._applying[run_id] += 1
        try:
            yield
        finally:
            with self._applying_lock:
                self._applying[run_id] -= 1
                if not self._applying[run_id]:
                    del self._applying[run_id]

    async def _apply(
        self,
        workflow: Workflow,
        run_id: str,
        events: list[dict[str, Any]],
        expected_version: int | None,
        known: RunRecord | None,
        claim: tuple[str, int] | None,
    ) -> Commit | None:
        decided: list[Commit] = []  # what the last call decided: storage may call it again

        def change(record: RunRecord) -> Change | None:
            if expected_version is not None and record.version != expected_version:
                raise ResumeConflictError()
            if record.definition_hash and record.definition_hash != workflow.definition_hash:
                raise DefinitionMismatchError(
                    f"Run {run_id} was started with definition {record.definition_hash} of "
                    f"{workflow.id!r}; this process has {workflow.definition_hash}"
                )
            state, actions = record.run_state, []
            for event in events:
                state, more = plan(workflow, state, event)
                actions += more
            decided.clear()
            if not actions:
                return None
            commit = commit_for(state, actions)
            if claim is not None:
                commit.claim(*claim)
            commit.record = replace(record, **commit.run, version=record.version + 1)
            decided.append(commit)
            return commit.run, commit.steps, commit.events

        seqs = await self.storage.atransact(run_id, change, known=known)
        if seqs is None or not decided:
            return None
        commit = decided[0]
        if commit.settled:
            # Before the events go out: a caller in another process returns on
            # workflow-finish, and its on_finish / on_error must have run by then.
            await self._asettled(workflow, run_id)
        await self._apublish(run_id, commit.events, seqs)
        return commit

    async def aemit(self, run_id: str, event: dict[str, Any]) -> None:
        """Append a step's own event (``writer``) to the run's log and fan it out."""
        seqs = await self.storage.acommit(run_id, events=[event])
        await self._apublish(run_id, [event], seqs)

    async def _apublish(self, run_id: str, events: list[dict[str, Any]], seqs: list[int]) -> None:
        published = [{**event, "seq": seq} for event, seq in zip(events, seqs, strict=True)]
        for event in published:
            hub.publish(run_id, event)
        if published:
            try:
                await self.bus.apublish(run_id, published)
            except Exception:  # fan-out is best effort: the log has the events
                logger.exception("Could not fan out events of run %s", run_id)

    # -- carrying out what plan decided -------------------------------------------
    async def afollow(self, workflow: Workflow, run_id: str, commit: Commit | None) -> None:
        """Announce a commit's work: tasks to workers, cancellations to all, local timers."""
        if commit is None:
            return
        for key, at in commit.timers:
            self.arm_timer(workflow, run_id, key, at)
        try:
            if commit.cancels:
                await self.bus.abroadcast({"type": "cancel", "run_id": run_id, "keys": commit.cancels})
            for key, _ in commit.runs:
                await self.bus.asend({"type": "task", "run_id": run_id, "key": key})
        except Exception:  # committed already: the sweeper hands the tasks out once the bus is back
            logger.exception("Could not announce work of run %s; the sweeper will", run_id)

    def arm_timer(self, workflow: Workflow, run_id: str, key: str, at: int) -> None:
        """Fire a timer from this process when due; the sweeper fires it if we die first."""
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.pop((run_id, key), None)
            task = loop.create_task(self.afire_timer(workflow, run_id, key, at))
            self._firing.add(task)
            task.add_done_callback(self._firing.discard)

        self._timers[(run_id, key)] = loop.call_later(max(0.0, (at - now_ms()) / 1000), fire)

    async def afire_timer(self, workflow: Workflow, run_id: str, key: str, at: int) -> None:
        try:
            event = {"type": "timer", "key": key, "now": max(now_ms(), at)}
            await self.afollow(workflow, run_id, await self.apply(workflow, run_id, event))
        except Exception:
            logger.exception("Timer %s of run %s could not fire; the sweeper will retry", key, run_id)

    # -- waiting, callbacks, embedded worker -----------------------------------------
    async def _await_settled(self, run_id: str, live: asyncio.Queue[dict[str, Any]]) -> str:
        """The run's status once it settles.

        A settling commit's events go out once the run's callbacks have run, so
        the run is read again when one that may settle it arrives
        (``workflow-finish``, ``workflow-step-suspended``), or now and then in
        case the fan-out lost it: reading it on every event cost as much as the
        step itself. A run stored as ended whose ``workflow-finish`` has not
        come is given ``_FINISH_GRACE_SECONDS`` for it (its callbacks may still
        be running in the worker that ended it).

        Every event that arrives is also handed to this process's hub, where
        ``run.astream()`` listens: the events of steps run by other processes
        reach this process only through this watch. Echoes of its own events
        come twice; hub listeners go by ``seq`` (streams, WebSockets) or take
        events as a doorbell.
        """
        finished = False
        ended_at: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            record = await self.storage.aget_run(run_id)
            if record is None:
                raise RunNotFoundError(f"Workflow run {run_id!r} not found")
            if record.status == "suspended":
                return "suspended"
            if record.status not in ("running", "pending"):
                ended_at = loop.time() if ended_at is None else ended_at
                if finished or loop.time() - ended_at >= _FINISH_GRACE_SECONDS:
                    return str(record.status)
            finished = False  # a workflow-finish the stored run has not reached yet
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_SETTLED_CHECK_SECONDS):
                    while True:
                        event = await live.get()
                        if not self.bus.local:  # the in-memory bus is the hub itself
                            hub.publish(run_id, event)
                        if event.get("type") in _MAY_SETTLE:
                            finished = event["type"] == "workflow-finish"
                            break

    async def _await_applied(self, run_id: str) -> None:
        """Wait for this process's changes of a settled run, and so for its async callbacks.

        The settling change commits before it calls ``on_finish`` / ``on_error``;
        without this wait the caller could return while they still run.
        """
        while self._applying.get(run_id):
            await asyncio.sleep(_APPLY_CHECK_SECONDS)

    async def _astart_callback(self, run: Run, event: dict[str, Any]) -> None:
        if event["type"] == "start" and run.workflow.on_start is not None:
            record = await self.storage.aget_run(run.run_id)
            if record is not None:
                await lifecycle.astarted(run.workflow, record)

    async def _asettled(self, workflow: Workflow, run_id: str) -> None:
        if workflow.on_finish is None and workflow.on_error is None:
            return
        record = await self.storage.aget_run(run_id)
        if record is not None:
            rows = await self.storage.aget_steps(run_id)
            result = build_result(record, rows, exceptions=self.errors.of(run_id))
            await lifecycle.asettled(workflow, record, result)

    def aensure_embedded_worker(self) -> Worker:
        """A worker inside this process and event loop, started on first need."""
        from .worker import Worker

        loop = asyncio.get_running_loop()
        for stale in [other for other in self._embedded if other.is_closed()]:
            del self._embedded[stale]
        if loop not in self._embedded:
            worker = Worker(self, name="embedded")
            self._embedded[loop] = (worker, loop.create_task(worker.arun()))
        return self._embedded[loop][0]


def default_bus() -> Bus:
    return InMemoryBus()
