"""The default engine: runs a workflow's steps as asyncio tasks in this process.

It feeds ``plan`` one event at a time from a queue, commits what ``plan`` decided
(run state, step rows, events) in one storage call per event, then carries out the
actions: step tasks, timers, cancellations. Every commit is a compare-and-set on
the run's ``version``, so a run changed elsewhere (canceled from another process,
resumed twice) stops this driver instead of being overwritten.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..core import lifecycle
from ..core.commit import Commit, commit_for
from ..core.context import AbortSignal
from ..core.errors import ResumeConflictError, RunNotFoundError, serialize_error
from ..core.hub import hub
from ..core.plan import plan
from ..core.results import build_result
from ..core.run import now_ms
from ..core.runner import TaskScope, run_task
from .live import LiveErrors

if TYPE_CHECKING:
    from ..core.run import Run
    from ..core.storage import RunRecord, Storage

logger = logging.getLogger(__name__)


class DefaultEngine:
    """In-process engine; one :class:`RunDriver` per run being executed here."""

    name = "default"

    def __init__(self, storage: Storage, **options: Any) -> None:
        self.storage = storage
        self.drivers: dict[str, RunDriver] = {}
        self.errors = LiveErrors()
        self._background: set[asyncio.Task[None]] = set()

    async def aexecute(
        self, run: Run, event: dict[str, Any], *, expected_version: int | None = None, wait: bool = True
    ) -> None:
        driver = RunDriver(self, run)
        if wait:
            await driver.adrive(event, expected_version)
            return
        task = asyncio.ensure_future(driver.adrive(event, expected_version))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def acancel(self, run: Run) -> None:
        driver = self.drivers.get(run.run_id)
        if driver is not None:
            driver.queue.put_nowait({"type": "cancel", "now": now_ms()})
            await driver.done.wait()
            return
        await RunDriver(self, run).adrive({"type": "cancel", "now": now_ms()}, None)

    def abandon(self, run_id: str) -> None:
        """Stop driving the run here without writing anything more, as a dying process would.

        For crash-recovery tests: the run stays ``running`` in storage, with the
        tasks that were running recorded as such, until ``run.arestart()``.
        """
        driver = self.drivers.get(run_id)
        if driver is not None and driver.loop_task is not None:
            driver.loop_task.cancel()

    def live_exceptions(self, run_id: str) -> dict[str, BaseException]:
        return self.errors.of(run_id)

    async def aready(self) -> None:
        """Always ready: the steps run in this process."""


class RunDriver:
    """Drives one run in this process until it settles."""

    def __init__(self, engine: DefaultEngine, run: Run) -> None:
        self.engine = engine
        self.run = run
        self.storage = engine.storage
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.signals: dict[str, AbortSignal] = {}
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.outputs: dict[str, Any] = {}
        self.done = asyncio.Event()
        self.commit_lock = asyncio.Lock()
        self.version = 0
        self.state: dict[str, Any] = {}
        self.loop_task: asyncio.Task[Any] | None = None

    async def adrive(self, first: dict[str, Any], expected_version: int | None) -> None:
        record = await self.storage.aget_run(self.run.run_id)
        if record is None:
            raise RunNotFoundError(f"Workflow run {self.run.run_id!r} not found")
        if expected_version is not None and record.version != expected_version:
            raise ResumeConflictError()
        self.version = record.version
        self.state = record.run_state
        self.engine.drivers[self.run.run_id] = self
        self.loop_task = asyncio.current_task()
        try:
            if first["type"] == "start":
                await lifecycle.astarted(self.run.workflow, record)
            await self._aloop(first)
        finally:
            self._stop_all()
            if self.engine.drivers.get(self.run.run_id) is self:
                del self.engine.drivers[self.run.run_id]
            self.done.set()
        self.run.status = self.state["status"]
        await self._asettled()

    async def _aloop(self, event: dict[str, Any]) -> None:
        while True:
            self.state, actions = plan(self.run.workflow, self.state, event)
            commit = commit_for(self.state, actions)
            for row in commit.steps:
                if row.status == "success" and row.foreach_index is None:
                    self.outputs[row.path] = row.output
            await self._awrite(commit.run, commit.steps, commit.events)
            self._carry_out(commit)
            if commit.settled:
                return
            event = await self.queue.get()

    async def _awrite(
        self, fields: dict[str, Any] | None, steps: list[Any], events: list[dict[str, Any]]
    ) -> None:
        async with self.commit_lock:
            seqs = await self.storage.acommit(
                self.run.run_id, run=fields, steps=steps, events=events, expected_version=self.version
            )
            self.version += 1
        for event, seq in zip(events, seqs, strict=True):
            hub.publish(self.run.run_id, {**event, "seq": seq})

    def _carry_out(self, commit: Commit) -> None:
        for key in commit.cancels:
            self._cancel(key)
        for key, task in commit.runs:
            self._spawn(key, task)
        for key, at in commit.timers:
            self._arm(key, at)

    def _spawn(self, key: str, task: dict[str, Any]) -> None:
        frame = self.state["frames"][task["frame"]]
        snapshot = {"frames": {task["frame"]: dict(frame)}}
        scope = TaskScope.of(
            self.state,
            run_id=self.run.run_id,
            workflow_id=self.run.workflow.id,
            resource_id=self.run.resource_id,
        )
        self.signals[key] = scope.abort_signal
        self.tasks[key] = asyncio.ensure_future(self._arun(key, dict(task), snapshot, scope))

    async def _arun(self, key: str, task: dict[str, Any], snapshot: dict[str, Any], scope: TaskScope) -> None:
        try:
            outcome = await run_task(self.run.workflow, snapshot, task, scope, _Environment(self))
        except Exception as exc:  # an engine fault must fail the step, never hang the run
            logger.exception("Task %s of run %s could not be run", key, self.run.run_id)
            outcome = {
                "status": "failed",
                "error": serialize_error(exc),
                "exception": exc,
                "non_retryable": True,
            }
        error = outcome.pop("exception", None)
        if error is not None and task["kind"] == "step":
            self.engine.errors.keep(self.run.run_id, task["path"], error)
        self.tasks.pop(key, None)
        self.signals.pop(key, None)
        self.queue.put_nowait(
            {
                "type": "task-done",
                "key": key,
                "handout": task.get("handout"),
                "outcome": outcome,
                "now": now_ms(),
            }
        )

    def _arm(self, key: str, at: int) -> None:
        loop = asyncio.get_running_loop()
        delay = max(0.0, (at - now_ms()) / 1000)

        def fire() -> None:
            self.timers.pop(key, None)
            self.queue.put_nowait({"type": "timer", "key": key, "now": max(now_ms(), at)})

        self.timers[key] = loop.call_later(delay, fire)

    def _cancel(self, key: str) -> None:
        signal = self.signals.pop(key, None)
        if signal is not None:
            signal.set()
        task = self.tasks.pop(key, None)
        if task is not None:
            task.cancel()
        timer = self.timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _stop_all(self) -> None:
        for key in list(self.tasks) + list(self.timers):
            self._cancel(key)

    async def _asettled(self) -> None:
        workflow = self.run.workflow
        if workflow.on_finish is None and workflow.on_error is None:
            return
        record = await self.storage.aget_run(self.run.run_id)
        if record is None:
            return
        rows = await self.storage.aget_steps(self.run.run_id)
        result = build_result(record, rows, exceptions=self.engine.live_exceptions(self.run.run_id))
        await lifecycle.asettled(workflow, record, result)


class _Environment:
    """The engine side of a step: step outputs and the run's event log."""

    def __init__(self, driver: RunDriver) -> None:
        self.driver = driver

    async def get_step_output(self, path: str) -> Any:
        if path in self.driver.outputs:
            return self.driver.outputs[path]
        row = await self.driver.storage.aget_step(self.driver.run.run_id, path)
        return row.output if row is not None and row.status == "success" else None

    async def emit(self, event: dict[str, Any]) -> None:
        await self.driver._awrite(None, [], [{**event, "run_id": self.driver.run.run_id}])


__all__ = ["DefaultEngine", "RunRecord"]
