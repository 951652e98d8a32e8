"""Following a run's events: the stored log, then live ones, with no gap and no duplicate.

Live events are a doorbell, as in the rest of the engine: they come from this
process's hub (runs driven here) and from the bus (runs driven by other
processes), in any order, possibly twice, possibly not at all. The log in
storage is the truth: whenever what arrived live does not continue the last
``seq`` sent, the follower reads the log after that ``seq``, a page at a time,
so that a reconnect to a long run never holds its whole log at once. Streams
(WebSocket, Server-Sent Events) wait on the doorbell alone and cost nothing
while a run is quiet; only a follower without a bus (``Run.aevents``) reads the
log on a timer. Every consumer of live events goes through :func:`afollow`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from .hub import hub
from .plan import TERMINAL
from .storage import RunRecord

REPLAY_PAGE = 500
"""Events read from the log at once; a replay of a longer log is read in pages of this size."""


class EventLog(Protocol):
    """The two reads a follower makes of storage (any :class:`~.storage.Storage` has them)."""

    async def aget_run(self, run_id: str) -> RunRecord | None: ...

    async def aread_events(
        self, run_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]: ...


def ends_run(event: dict[str, Any]) -> bool:
    """Whether ``event`` is the last one of a run that nothing but a restart continues."""
    payload = event.get("payload") or {}
    return event.get("type") == "workflow-finish" and payload.get("workflow_status") in TERMINAL


async def afollow(
    storage: EventLog,
    bus: Any,
    run_id: str,
    after_seq: int = 0,
    *,
    poll_seconds: float | None = None,
    until_finished: bool = False,
    keepalive_seconds: float | None = None,
    page_size: int = REPLAY_PAGE,
) -> AsyncIterator[dict[str, Any] | None]:
    """Yield the run's events with ``seq`` above ``after_seq``, in order, each once.

    Runs until the caller stops iterating, or, with ``until_finished``, after the
    event that ends the run (at once if the run had ended before). The log is
    read at the start, and again only when a doorbell shows a gap; with
    ``poll_seconds`` also after that long without one (for ``bus=None``, where
    runs moved by other processes ring nothing here). With
    ``keepalive_seconds``, yields ``None`` after that long without an event, so
    a stream over HTTP can keep proxies from closing it. Reads of the log
    return at most ``page_size`` events each.
    """
    if until_finished:
        record = await storage.aget_run(run_id)
        if record is not None and record.status in TERMINAL:
            async for stored in _apages(storage, run_id, after_seq, page_size):
                yield stored
            return
    live: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    unsubscribe = hub.subscribe(run_id, live.put_nowait)
    try:
        async with bus.watch(run_id) if bus is not None else _silence() as remote:
            relay = asyncio.ensure_future(_relay(remote, live))
            try:
                async for event in _ordered(
                    storage, run_id, after_seq, live, _Timing(poll_seconds, keepalive_seconds, page_size)
                ):
                    yield event
                    if until_finished and event is not None and ends_run(event):
                        return
            finally:
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay
    finally:
        unsubscribe()


@contextlib.asynccontextmanager
async def _silence() -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    yield asyncio.Queue()


async def _relay(source: asyncio.Queue[dict[str, Any]], target: asyncio.Queue[dict[str, Any]]) -> None:
    while True:
        target.put_nowait(await source.get())


async def _apages(storage: EventLog, run_id: str, after: int, size: int) -> AsyncIterator[dict[str, Any]]:
    """The log after ``after``, read ``size`` events at a time, so memory stays bounded."""
    while True:
        page = await storage.aread_events(run_id, after, size)
        for event in page:
            after = int(event["seq"])
            yield event
        if len(page) < size:
            return


@dataclass(frozen=True)
class _Timing:
    poll_seconds: float | None
    keepalive_seconds: float | None
    page_size: int

    def wait_seconds(self, quiet_for: float) -> float | None:
        """How long to wait for the doorbell before a keep-alive or a read of the log is due."""
        waits = [self.poll_seconds]
        if self.keepalive_seconds is not None:
            waits.append(max(0.0, self.keepalive_seconds - quiet_for))
        due = [wait for wait in waits if wait is not None]
        return min(due) if due else None


async def _ordered(
    storage: EventLog,
    run_id: str,
    last: int,
    live: asyncio.Queue[dict[str, Any]],
    timing: _Timing,
) -> AsyncIterator[dict[str, Any] | None]:
    """Alternate between reading the log after ``last`` and waiting for the doorbell."""
    loop = asyncio.get_running_loop()
    sent_at = loop.time()
    while True:
        async for event in _apages(storage, run_id, last, timing.page_size):
            last, sent_at = int(event["seq"]), loop.time()
            yield event
        while True:
            keepalive = timing.keepalive_seconds
            if keepalive is not None and loop.time() - sent_at >= keepalive:
                sent_at = loop.time()
                yield None
            try:
                arrived = [await asyncio.wait_for(live.get(), timing.wait_seconds(loop.time() - sent_at))]
            except TimeoutError:
                if timing.poll_seconds is None:
                    continue  # only a keep-alive was due
                break  # nothing live for a while: look at the log
            while not live.empty():
                arrived.append(live.get_nowait())
            gap = False
            for event in sorted(arrived, key=lambda e: int(e.get("seq", 0))):
                seq = int(event["seq"])
                if seq <= last:
                    continue  # the same event from the hub and from the bus
                if seq != last + 1:
                    gap = True
                    break
                last, sent_at = seq, loop.time()
                yield event
            if gap:
                break
