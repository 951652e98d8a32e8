"""What steps write while they run (``ctx.writer``), committed to the run's log in batches.

A step that streams tokens writes hundreds of events; a transaction and a
fan-out for each made the log the bottleneck of every stream. Writes are queued
per run and committed together, at most ``delay`` seconds after the first of a
batch, when ``max_events`` are queued, or at once before the run's next commit
of an outcome (:meth:`WriterBatches.aflush`), so that a step's writes are in the
log before its result.

Invariants: the commits of one run's writes never overlap (a lock per run), so
their seqs follow the order the steps wrote in; a flush waits for the one in
flight. A write is durable once its batch commits: a process that dies loses at
most ``delay`` of writes, which its step writes again when it runs again. With
``delay`` 0 each write is committed before ``write()`` returns, as before
batching.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..core.hub import hub
from ._announce import apublish

if TYPE_CHECKING:
    from ..core.bus import Bus
    from ..core.storage import Storage

logger = logging.getLogger(__name__)

Event = dict[str, Any]
# At most this many writes of one run wait for their commit: a step that writes faster than
# its run's commits waits for one, so memory stays bounded.
MAX_PENDING_EVENTS = 1000


class WriterBatches:
    """Per-run queues of written events and the commits that empty them."""

    def __init__(
        self,
        commit: Callable[[str, list[Event]], Awaitable[None]],
        *,
        delay: float,
        max_events: int = MAX_PENDING_EVENTS,
    ) -> None:
        self._commit = commit
        self.delay = delay
        self.max_events = max_events
        self._pending: dict[str, list[Event]] = {}
        self._timers: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle]] = {}
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # and how many flushes use it
        self._flushing: set[asyncio.Task[None]] = set()

    async def aadd(self, run_id: str, event: Event) -> None:
        """Queue ``event`` for the run's log; commits now if the delay is 0 or the queue is full."""
        pending = self._pending.setdefault(run_id, [])
        pending.append(event)
        if self.delay <= 0 or len(pending) >= self.max_events:
            await self.aflush(run_id)
        elif run_id not in self._timers or self._timers[run_id][0] is not asyncio.get_running_loop():
            # A timer of another loop (a closed one: a test's, a stopped worker's) never fires.
            loop = asyncio.get_running_loop()
            self._timers[run_id] = (loop, loop.call_later(self.delay, self._flush_later, run_id))

    def pending(self, run_id: str) -> int:
        """How many writes of the run wait for their commit."""
        return len(self._pending.get(run_id, ()))

    async def aflush(self, run_id: str) -> None:
        """Commit the run's queued writes, after the commit of its writes already in flight."""
        _, timer = self._timers.pop(run_id, (None, None))
        if timer is not None:
            timer.cancel()
        lock, users = self._locks.get(run_id) or (asyncio.Lock(), 0)
        self._locks[run_id] = (lock, users + 1)
        try:
            async with lock:
                events = self._pending.pop(run_id, None)
                if events:
                    await self._acommit_or_requeue(run_id, events)
        finally:
            lock, users = self._locks[run_id]
            if users > 1:
                self._locks[run_id] = (lock, users - 1)
            else:
                del self._locks[run_id]

    async def _acommit_or_requeue(self, run_id: str, events: list[Event]) -> None:
        try:
            await self._commit(run_id, events)
        except BaseException:
            # Not written: they go first in the run's queue, for the next flush to try again.
            self._pending[run_id] = events + self._pending.get(run_id, [])
            raise

    def _flush_later(self, run_id: str) -> None:
        self._timers.pop(run_id, None)
        task = asyncio.ensure_future(self._aflush_logged(run_id))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _aflush_logged(self, run_id: str) -> None:
        """A timed flush: nobody awaits it, so a failure is logged and the writes wait for the next."""
        try:
            await self.aflush(run_id)
        except Exception:
            logger.exception("Could not commit the writes of run %s; the next flush tries again", run_id)


async def acommit_writes(storage: Storage, bus: Bus, run_id: str, events: list[Event]) -> None:
    """One commit and one fan-out for a batch of written events."""
    seqs = await storage.acommit(run_id, events=events)
    published = [{**event, "seq": seq} for event, seq in zip(events, seqs, strict=True)]
    for event in published:
        hub.publish(run_id, event)
    if not bus.local:
        await apublish(bus, run_id, published)
