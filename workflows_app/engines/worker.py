"""A worker of the evented engine: claims tasks, runs them, commits what follows.

Invariants:

- A step runs only under a claim: the task row is ``running`` and its lease
  (renewed while the step runs) is ours. Results are committed through
  ``EventedEngine.apply``, under the run-row lock; a report that arrives twice
  finds the task gone and changes nothing. Steps run at least once; their
  results are committed exactly once.
- A worker that finishes a step runs the single next step itself (its row is
  written first, so a crash still recovers); fan-out goes through the bus.
- The sweeper, in every worker, fires due timers and hands out again the tasks
  whose lease expired or whose message was lost, up to ``max_deliveries``; then
  the task fails with a clear error instead of being retried for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..core import runtime
from ..core.commit import coordinate_of
from ..core.errors import WorkflowError, serialize_error
from ..core.run import now_ms
from ..core.runner import TaskScope, run_task
from .faults import crash_point

if TYPE_CHECKING:
    from ..core.commit import Commit
    from ..core.storage import Coordinate, RunRecord
    from ..core.workflow import Workflow
    from .evented import EventedEngine

logger = logging.getLogger(__name__)
_BUS_RETRY_SECONDS = 0.5


class Worker:
    """Runs tasks of the evented engine, at most ``concurrency`` at once."""

    def __init__(
        self, engine: EventedEngine, *, name: str = "worker", concurrency: int | None = None
    ) -> None:
        self.engine = engine
        self.storage = engine.storage
        self.bus = engine.bus
        self.options = engine.options
        self.id = f"{name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.concurrency = int(concurrency or self.options["concurrency"])
        self.running: dict[tuple[str, str], asyncio.Task[Any]] = {}
        self.signals: dict[tuple[str, str], Any] = {}
        self._slots = asyncio.Semaphore(self.concurrency)
        self._children: set[asyncio.Task[Any]] = set()
        self._receiver: asyncio.Task[Any] | None = None
        self._stopped = False
        self._revived_at = 0

    async def arun(self) -> None:
        """Receive, sweep and beat until cancelled."""
        loops = [self._areceive(), self._alisten(), self._asweep(), self._abeat()]
        tasks = [asyncio.ensure_future(loop) for loop in loops]
        self._receiver = tasks[0]
        try:
            await asyncio.gather(*tasks)
        finally:
            self._stopped = True  # a loop whose cancellation was hidden (see _reraise_cancel) ends too
            for task in [*tasks, *self._children, *self.running.values()]:
                task.cancel()

    async def adrain(self) -> None:
        """Stop taking new tasks and wait for the running ones (graceful shutdown)."""
        if self._receiver is not None:
            self._receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._receiver
        for _ in range(self.concurrency):
            await self._slots.acquire()

    def abandon(self, run_id: str) -> None:
        """Drop the run's tasks here without writing, as a killed worker would."""
        for (task_run, _), task in list(self.running.items()):
            if task_run == run_id:
                task.cancel()

    # -- receiving ------------------------------------------------------------------
    async def _areceive(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                message = await self.bus.areceive()
            except asyncio.CancelledError:
                self._slots.release()
                raise
            except Exception:  # the bus is down: keep trying; the sweeper recovers what was lost
                self._slots.release()
                self._reraise_cancel()
                logger.exception("Worker %s cannot receive; retrying", self.id)
                await asyncio.sleep(_BUS_RETRY_SECONDS)
                continue
            self._spawn(self._ahandle(message))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._children.add(task)
        task.add_done_callback(self._children.discard)

    async def _ahandle(self, message: dict[str, Any]) -> None:
        try:
            if message.get("type") == "task":
                await self.arun_task(str(message["run_id"]), str(message["key"]))
        except Exception:
            logger.exception("Worker %s failed on %s", self.id, message)
        finally:
            self._slots.release()

    async def _alisten(self) -> None:
        while True:
            try:
                async with self.bus.listen() as broadcasts:
                    async for message in broadcasts:
                        if message.get("type") == "cancel":
                            for key in message.get("keys", ()):
                                self._stop((str(message["run_id"]), str(key)))
            except asyncio.CancelledError:
                raise
            except Exception:  # cancellations still arrive through the lease check
                self._reraise_cancel()
                logger.exception("Worker %s lost its broadcast channel; listening again", self.id)
                await asyncio.sleep(_BUS_RETRY_SECONDS)

    def _reraise_cancel(self) -> None:
        """Raise the cancellation an exception hid, instead of retrying.

        redis-py can turn a cancelled read into its TimeoutError (and asyncio's
        timeout then takes the cancellation back), so a loop that retries on
        errors would never stop: it stops when its task is being cancelled or
        the worker has stopped.
        """
        if self._stopped or _cancelling():
            raise asyncio.CancelledError

    def _stop(self, job_key: tuple[str, str]) -> None:
        """Tell a running step it is cancelled (its abort signal), then stop it."""
        signal = self.signals.get(job_key)
        if signal is not None:
            signal.set()
        task = self.running.get(job_key)
        if task is not None:
            task.cancel()

    # -- running a task -------------------------------------------------------------
    async def arun_task(self, run_id: str, key: str | None) -> None:
        """Run the task and then, here, whatever single task follows it.

        The task that follows is claimed for this worker by the commit that
        decided it, and read from that commit, not from the database again: no
        query and no bus hop between two sequential steps but the commit.
        """
        known: RunRecord | None = None
        claimed = False
        while key is not None:
            key, known, claimed = await self._arun_one(run_id, key, known, claimed)

    async def _arun_one(
        self, run_id: str, key: str, known: RunRecord | None, claimed: bool
    ) -> tuple[str | None, RunRecord | None, bool]:
        record = known or await self.storage.aget_run(run_id)
        task = record.run_state["tasks"].get(key) if record is not None else None
        if record is None or task is None or task["status"] != "running" or record.status != "running":
            return None, None, False
        workflow = self._workflow_for(record)
        if workflow is None:
            return None, None, False
        if task["kind"] == "step":
            if not claimed and not await self.storage.aclaim(
                run_id, coordinate_of(task), self.id, self._lease_end(), now_ms()
            ):
                return None, None, False
            crash_point("after-claim", task["path"])
        outcome = await self._aexecute(workflow, record, key, task)
        if outcome is None:
            return None, None, False
        crash_point("after-step", task.get("path", ""))
        event = {
            "type": "task-done",
            "key": key,
            "handout": task.get("handout"),
            "outcome": outcome,
            "now": now_ms(),
        }
        # The run as our last commit left it is still current in a sequence; a run
        # read before the step ran is likely stale by now (its siblings committed).
        commit = await self.engine.apply_outcome(
            workflow, run_id, event, known=known, claim=(self.id, self._lease_end())
        )
        following = await self._afollow(workflow, run_id, commit)
        if following is None or commit is None:
            return None, None, False
        return following, commit.record, following == commit.claimed

    def _lease_end(self) -> int:
        return now_ms() + int(float(self.options["lease_seconds"]) * 1000)

    def _workflow_for(self, record: RunRecord) -> Workflow | None:
        try:
            workflow = runtime.get_workflow(record.workflow_id)
        except WorkflowError:
            logger.warning(
                "Worker %s has no workflow %r; leaving run %s", self.id, record.workflow_id, record.run_id
            )
            return None
        if record.definition_hash and workflow.definition_hash != record.definition_hash:
            logger.warning(
                "Worker %s has definition %s of %r but run %s needs %s; leaving it alone",
                self.id,
                workflow.definition_hash,
                workflow.id,
                record.run_id,
                record.definition_hash,
            )
            return None
        return workflow

    async def _aexecute(
        self, workflow: Workflow, record: RunRecord, key: str, task: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The task's outcome, or ``None`` if it was cancelled or lost its claim."""
        scope = TaskScope.of(
            record.run_state, run_id=record.run_id, workflow_id=workflow.id, resource_id=record.resource_id
        )
        env = _Environment(self.engine, record.run_id)
        job = asyncio.ensure_future(run_task(workflow, record.run_state, task, scope, env))
        self.running[(record.run_id, key)] = job
        self.signals[(record.run_id, key)] = scope.abort_signal
        keeper = (
            asyncio.ensure_future(self._akeep_lease(record.run_id, task, job))
            if task["kind"] == "step"
            else None
        )
        try:
            outcome = await job
        except asyncio.CancelledError:
            if job.cancelled() and not _cancelling():
                return None
            raise
        finally:
            self.running.pop((record.run_id, key), None)
            self.signals.pop((record.run_id, key), None)
            if keeper is not None:
                keeper.cancel()
        error = outcome.pop("exception", None)
        if error is not None and task["kind"] == "step":
            self.engine.errors.keep(record.run_id, task["path"], error)
        return outcome

    async def _akeep_lease(self, run_id: str, task: dict[str, Any], job: asyncio.Task[Any]) -> None:
        """Renew the claim while the step runs; stop the step if the claim is gone."""
        lease = float(self.options["lease_seconds"])
        while True:
            await asyncio.sleep(lease / 3)
            until = now_ms() + int(lease * 1000)
            if not await self.storage.arenew(run_id, coordinate_of(task), self.id, until):
                logger.info(
                    "Worker %s lost the claim on %s of run %s; stopping it", self.id, task["path"], run_id
                )
                for job_key, running in list(self.running.items()):
                    if running is job:
                        self._stop(job_key)
                return

    async def _afollow(self, workflow: Workflow, run_id: str, commit: Commit | None) -> str | None:
        """Announce what follows; keep one task to run here when that saves a bus hop."""
        if commit is None:
            return None
        local = [key for key, task in commit.runs if task["kind"] != "step"]
        keep = commit.lone_step()
        for key in local[1:]:
            self._spawn_follow(run_id, key)
        commit.runs = [(key, task) for key, task in commit.runs if task["kind"] == "step" and key != keep]
        await self.engine.afollow(workflow, run_id, commit)
        return local[0] if local else keep

    def _spawn_follow(self, run_id: str, key: str) -> None:
        self._spawn(self.arun_task(run_id, key))

    # -- sweeping and heartbeats ------------------------------------------------------
    async def _asweep(self) -> None:
        while True:
            await asyncio.sleep(float(self.options["sweep_seconds"]))
            try:
                await self.asweep_once()
            except Exception:
                self._reraise_cancel()
                logger.exception("Sweep of worker %s failed", self.id)

    async def asweep_once(self) -> None:
        """Fire due timers; hand out again tasks whose lease expired or message was lost."""
        for run_id in await self.storage.adue_runs(datetime.now(UTC)):
            await self._afire_due(run_id)
        unclaimed = int(float(self.options["unclaimed_seconds"]) * 1000)
        for stale in await self.storage.astale_tasks(now_ms(), unclaimed):
            await self._aredeliver(stale.run_id, stale.coordinate)
        if now_ms() - self._revived_at >= unclaimed:  # quiet runs are rare: look less often
            self._revived_at = now_ms()
            idle_since = datetime.now(UTC) - timedelta(milliseconds=unclaimed)
            for run_id in await self.storage.aidle_runs(idle_since):
                await self._arevive_helpers(run_id)

    async def _arevive_helpers(self, run_id: str) -> None:
        """Run again the flow decisions (conditions, sleep functions) of a run gone quiet.

        They have no task row to lease: if the process deciding one died, or its
        message was lost, the run would wait for ever. Deciding twice is harmless:
        plan takes the first answer.
        """
        record = await self.storage.aget_run(run_id)
        if record is None or record.status != "running":
            return
        for key, task in record.run_state["tasks"].items():
            if task["kind"] != "step" and task["status"] == "running":
                self._spawn_follow(run_id, key)

    async def _afire_due(self, run_id: str) -> None:
        record = await self.storage.aget_run(run_id)
        workflow = self._workflow_for(record) if record is not None else None
        if record is None or workflow is None:
            return
        for key, timer in list(record.run_state.get("timers", {}).items()):
            if timer["at"] <= now_ms():
                await self.engine.afire_timer(workflow, run_id, key, timer["at"])

    async def _aredeliver(self, run_id: str, coordinate: Coordinate) -> None:
        record = await self.storage.aget_run(run_id)
        if record is None or record.status != "running":
            return
        found = [(k, t) for k, t in record.run_state["tasks"].items() if coordinate_of(t) == coordinate]
        deliveries = await self.storage.aredeliver(run_id, coordinate, now_ms())
        if not found or (workflow := self._workflow_for(record)) is None:
            return
        key, task = found[0]
        if deliveries <= int(self.options["max_deliveries"]):
            logger.info("Handing out %s of run %s again (delivery %d)", key, run_id, deliveries)
            await self.bus.asend({"type": "task", "run_id": run_id, "key": key})
            return
        lost = TaskLostError(
            f"Step {task['path']!r} was handed to workers {deliveries} times without finishing"
        )
        outcome = {"status": "failed", "error": serialize_error(lost), "non_retryable": True}
        commit = await self.engine.apply(
            workflow,
            run_id,
            {
                "type": "task-done",
                "key": key,
                "handout": task.get("handout"),
                "outcome": outcome,
                "now": now_ms(),
            },
        )
        await self.engine.afollow(workflow, run_id, commit)

    async def _abeat(self) -> None:
        info = {"host": socket.gethostname(), "pid": os.getpid(), "concurrency": self.concurrency}
        while True:
            with contextlib.suppress(Exception):
                await self.storage.aheartbeat(self.id, {**info, "running": len(self.running)})
            await asyncio.sleep(float(self.options["heartbeat_seconds"]))


class TaskLostError(WorkflowError):
    """A step was handed out too many times without a worker finishing it."""


class _Environment:
    """The engine side of a step running in a worker: storage reads and the event log."""

    def __init__(self, engine: EventedEngine, run_id: str) -> None:
        self.engine = engine
        self.run_id = run_id

    async def get_step_output(self, path: str) -> Any:
        row = await self.engine.storage.aget_step(self.run_id, path)
        return row.output if row is not None and row.status == "success" else None

    async def emit(self, event: dict[str, Any]) -> None:
        await self.engine.aemit(self.run_id, {**event, "run_id": self.run_id})


def _cancelling() -> bool:
    task = asyncio.current_task()
    return bool(task is not None and task.cancelling())
