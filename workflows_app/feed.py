"""The runs feed of a process: status changes of every run, read once, shared by every dashboard.

A dashboard socket wants a message each time a run it may see starts, changes
status or finishes. Reading the run's row per socket per event costs a query
per socket per event: 300 sockets turn one start into 300 queries. Here the
process listens once (this process's hub, and the bus for runs driven
elsewhere), drops the copy of an event that arrives by both ways, and reads the
rows of all the runs whose events arrived together in one query. Each socket
then filters what it gets in memory (:meth:`RunChange.visible_to`), with no query.

The feed runs while some socket subscribes to it, and stops with the last one:
an idle process costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from .bus import STATUS_EVENTS
from .core import runtime
from .core.hub import hub
from .models import WorkflowRun

_REMEMBERED = 10_000  # (run, seq) pairs remembered, to drop the copy that arrives twice


@dataclass(frozen=True)
class Viewer:
    """What the feed needs to know of a socket's user, to filter without a query."""

    user_id: int
    sees_all_runs: bool


@dataclass(frozen=True)
class RunChange:
    """A status event of a run, with the run's row as read when the event arrived."""

    run_id: str
    workflow_id: str
    status: str
    started_by_id: int | None
    event: str

    def visible_to(self, viewer: Viewer) -> bool:
        """The rule of :func:`workflows_app.permissions.can_view`, on facts already in hand."""
        owner = self.started_by_id
        return viewer.sees_all_runs or (owner is not None and owner == viewer.user_id)


class RunsFeed:
    """The feed of one event loop; see :func:`subscribe`."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[RunChange]] = set()
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._arrived: list[tuple[str, str]] = []
        self._reader: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._unsubscribe: Any = None

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[RunChange]]:
        queue: asyncio.Queue[RunChange] = asyncio.Queue()
        if not self._queues:
            self._start()
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)
            if not self._queues:
                await self._astop()

    def _start(self) -> None:
        self._unsubscribe = hub.subscribe("*", self._on_local_event)
        self._listener = asyncio.ensure_future(self._alisten())

    async def _astop(self) -> None:
        """Stop listening; fields are cleared first, so that a new subscriber meanwhile starts afresh."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        tasks = [task for task in (self._listener, self._reader) if task is not None]
        self._unsubscribe = self._listener = self._reader = None
        self._arrived = []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def _on_local_event(self, event: dict[str, Any]) -> None:
        self._notice(str(event.get("run_id", "")), event)

    async def _alisten(self) -> None:
        """Status events of runs driven by other processes, from the bus."""
        async with runtime.get_bus().watch_runs() as remote:
            while True:
                message = await remote.get()
                self._notice(str(message["run_id"]), message["event"])

    def _notice(self, run_id: str, event: dict[str, Any]) -> None:
        if event.get("type") not in STATUS_EVENTS or not run_id:
            return
        key = (run_id, int(event.get("seq", 0)))
        if key in self._seen:
            return  # the same event from the hub and from the bus
        self._seen[key] = None
        if len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
        self._arrived.append((run_id, str(event["type"])))
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._aread())

    async def _aread(self) -> None:
        """Read the rows of the runs that had events, a batch at a time, and hand them out."""
        try:
            while self._arrived:
                batch, self._arrived = self._arrived, []
                fields = ("run_id", "workflow_id", "status", "started_by_id")
                rows = WorkflowRun.objects.filter(pk__in={run_id for run_id, _ in batch}).values(*fields)
                found = {row["run_id"]: row async for row in rows}
                for run_id, event in batch:
                    if run_id in found:
                        self._hand_out(RunChange(**found[run_id], event=event))
        finally:
            if self._reader is asyncio.current_task():
                self._reader = None

    def _hand_out(self, change: RunChange) -> None:
        for queue in self._queues:
            queue.put_nowait(change)


_feeds: dict[asyncio.AbstractEventLoop, RunsFeed] = {}


def subscribe() -> contextlib.AbstractAsyncContextManager[asyncio.Queue[RunChange]]:
    """A queue of every run's status changes while the block runs (the feed of this event loop)."""
    loop = asyncio.get_running_loop()
    for closed in [other for other in _feeds if other.is_closed()]:
        del _feeds[closed]
    feed = _feeds.setdefault(loop, RunsFeed())
    return feed.subscribe()
