"""The message bus of the evented engine: a doorbell, never the source of truth.

Messages carry identities only (``{"type": "task", "run_id", "key"}``); the worker
reads everything else from storage. A lost message only delays work: the sweeper
finds the task row unclaimed and rings again. Every message goes through a JSON
round trip, in memory too, so nothing is ever passed by reference.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, runtime_checkable

from .hub import hub


@runtime_checkable
class Bus(Protocol):
    """Task hand-off to workers, broadcasts to all workers, and run event fan-out."""

    local: bool
    """True when the bus reaches this process only (a worker must run here)."""

    async def asend(self, message: dict[str, Any]) -> None:
        """Hand a task message to one worker."""

    async def areceive(self) -> dict[str, Any]:
        """The next task message for this worker."""

    async def abroadcast(self, message: dict[str, Any]) -> None:
        """Tell every live worker (cancellations)."""

    def listen(self) -> Any:
        """An async context manager yielding an async iterator of broadcasts."""

    async def apublish(self, run_id: str, events: list[dict[str, Any]]) -> None:
        """Fan committed events out to watchers of the run in every process."""

    def watch(self, run_id: str) -> Any:
        """An async context manager yielding a queue of the run's live events."""

    def watch_runs(self) -> Any:
        """An async context manager yielding a queue of ``{"run_id", "event"}``: status events of
        runs driven by other processes (this process's are on the hub's ``"*"``)."""


def _roundtrip(message: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(message))
    return result


class InMemoryBus:
    """A bus inside one process and one event loop (embedded mode, tests)."""

    local = True

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._listeners: list[asyncio.Queue[dict[str, Any]]] = []

    def _bind(self) -> None:
        """Queues belong to one event loop; a new loop (a new test) starts empty."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._tasks = asyncio.Queue()
            self._listeners = []

    async def asend(self, message: dict[str, Any]) -> None:
        self._bind()
        self._tasks.put_nowait(_roundtrip(message))

    async def areceive(self) -> dict[str, Any]:
        self._bind()
        return await self._tasks.get()

    async def abroadcast(self, message: dict[str, Any]) -> None:
        self._bind()
        for queue in self._listeners:
            queue.put_nowait(_roundtrip(message))

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        self._bind()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._listeners.append(queue)
        try:
            yield _drain(queue)
        finally:
            if queue in self._listeners:
                self._listeners.remove(queue)

    async def apublish(self, run_id: str, events: list[dict[str, Any]]) -> None:
        """Nothing to do: the engine already published to this process's hub."""

    @asynccontextmanager
    async def watch(self, run_id: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        unsubscribe: Callable[[], None] = hub.subscribe(run_id, queue.put_nowait)
        try:
            yield queue
        finally:
            unsubscribe()

    @asynccontextmanager
    async def watch_runs(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """An empty queue: this bus reaches no other process, and the hub has this one's events."""
        yield asyncio.Queue()


async def _drain(queue: asyncio.Queue[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    while True:
        yield await queue.get()
