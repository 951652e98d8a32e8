"""``run.astream()``: the events of a run while it runs, then its result.

The stream listens before the run starts, so it misses nothing, and ends when
the run settles (or, with ``close_on_suspend=False``, only when it finishes for
good, carrying the events of later resumes; its result is then the final one).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .hub import hub
from .plan import SETTLED

if TYPE_CHECKING:
    from .engine import RunHandle
    from .results import WorkflowResult

_FINAL = SETTLED - {"suspended"}  # a stream that stays open on suspend ends only here


class RunStream:
    """Async-iterate the events; then ``await stream.result()``."""

    def __init__(
        self,
        run: RunHandle,
        begin: Callable[[], Awaitable[WorkflowResult]],
        *,
        close_on_suspend: bool = True,
        include_state: bool = False,
    ) -> None:
        self.run = run
        self._begin = begin
        self._close_on_suspend = close_on_suspend
        self._include_state = include_state
        self._task: asyncio.Task[WorkflowResult] | None = None
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._unsubscribe: Callable[[], None] | None = None
        self._last_seq: int | None = None
        self._backlog: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def _ensure_started(self) -> asyncio.Task[WorkflowResult]:
        if self._task is None:
            self._unsubscribe = hub.subscribe(self.run.run_id, self._queue.put_nowait)
            self._task = asyncio.ensure_future(self._begin())
        return self._task

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        task = self._ensure_started()
        try:
            while True:
                event = await self._next(task)
                if event is None:
                    break
                self.events.append(event)
                yield event
                if self._ends(event):
                    break
        finally:
            self._close()

    async def _next(self, task: asyncio.Task[WorkflowResult]) -> dict[str, Any] | None:
        """The next event in ``seq`` order, each once.

        Live events come from this process's hub, where an engine whose steps
        run in other processes relays theirs; those may come twice, late or not
        at all. A gap is read from the log, and so is the tail once the run
        settled, so the stream misses nothing the log has.
        """
        while True:
            from_log = bool(self._backlog)
            event = self._backlog.pop(0) if from_log else await self._next_live(task)
            if event is None:
                if self._last_seq is None:
                    return None
                self._backlog = await self.run.storage.aread_events(self.run_id, self._last_seq)
                if not self._backlog:
                    return None
                continue
            seq = event.get("seq")
            if seq is not None and self._last_seq is not None:
                if seq <= self._last_seq:
                    continue
                if seq > self._last_seq + 1 and not from_log:
                    gap = seq - self._last_seq - 1
                    missing = await self.run.storage.aread_events(self.run_id, self._last_seq, gap)
                    self._backlog = [*missing, event, *self._backlog]
                    continue
            if seq is not None:
                self._last_seq = int(seq)
            return event

    async def _next_live(self, task: asyncio.Task[WorkflowResult]) -> dict[str, Any] | None:
        while True:
            if not self._queue.empty():
                return self._queue.get_nowait()
            if task.done() and (
                self._close_on_suspend or task.exception() is not None or self._settled_final()
            ):
                return None
            getter = asyncio.ensure_future(self._queue.get())
            waiters: set[asyncio.Future[Any]] = {getter} if task.done() else {getter, task}
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                return getter.result()
            getter.cancel()

    def _settled_final(self) -> bool:
        return self.run.status in _FINAL

    def _ends(self, event: dict[str, Any]) -> bool:
        return event["type"] == "workflow-finish" and event["payload"].get("workflow_status") in _FINAL

    def _close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def _await_end(self) -> None:
        """Wait for the run's final ``workflow-finish``, reading the log from this stream's start."""
        after = self.events[0]["seq"] - 1 if self.events else 0
        async for event in self.run.aevents(after_seq=after):
            if self._ends(event):
                return

    async def result(self) -> WorkflowResult:
        """The run's result once it settled (starts the run if nobody iterated).

        A stream that stays open on suspend ends with the run, so its result is the
        run's final one, after the resumes that the stream carried.
        """
        task = self._ensure_started()
        try:
            result = await task
            if self._close_on_suspend or result.status in _FINAL:
                return result
            await self._await_end()
            return await self.run.aresult(include_state=self._include_state)
        finally:
            if self._queue.empty():
                self._close()
