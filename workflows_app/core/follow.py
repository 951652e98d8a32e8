"""Following a run's events: the stored log, then live ones, with no gap and no duplicate.

Live events are a doorbell, as in the rest of the engine: they come from this
process's hub (runs driven here) and from the bus (runs driven by other
processes), in any order, possibly twice, possibly not at all. The log in
storage is the truth: whenever what arrived live does not continue the last
``seq`` sent, or nothing arrived for ``poll_seconds``, the follower reads the
log after that ``seq``. Every consumer of live events (WebSocket, Server-Sent
Events, ``Run.aevents``) goes through :func:`afollow`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from .hub import hub
from .plan import TERMINAL
from .storage import Storage


def ends_run(event: dict[str, Any]) -> bool:
    """Whether ``event`` is the last one of a run that nothing but a restart continues."""
    payload = event.get("payload") or {}
    return event.get("type") == "workflow-finish" and payload.get("workflow_status") in TERMINAL


async def afollow(
    storage: Storage,
    bus: Any,
    run_id: str,
    after_seq: int = 0,
    *,
    poll_seconds: float = 1.0,
    until_finished: bool = False,
    keepalive_seconds: float | None = None,
) -> AsyncIterator[dict[str, Any] | None]:
    """Yield the run's events with ``seq`` above ``after_seq``, in order, each once.

    Runs until the caller stops iterating, or, with ``until_finished``, after the
    event that ends the run (at once if the run had ended before). With
    ``bus=None`` only this process's hub rings; runs moved by other processes
    are then followed by reading the log every ``poll_seconds``. With
    ``keepalive_seconds``, yields ``None`` after that long without an event, so
    a stream over HTTP can keep proxies from closing it.
    """
    if until_finished:
        record = await storage.aget_run(run_id)
        if record is not None and record.status in TERMINAL:
            for stored in await storage.aread_events(run_id, after_seq):
                yield stored
            return
    live: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    unsubscribe = hub.subscribe(run_id, live.put_nowait)
    try:
        async with bus.watch(run_id) if bus is not None else _silence() as remote:
            relay = asyncio.ensure_future(_relay(remote, live))
            try:
                async for event in _ordered(
                    storage, run_id, after_seq, live, poll_seconds, keepalive_seconds
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


async def _ordered(
    storage: Storage,
    run_id: str,
    last: int,
    live: asyncio.Queue[dict[str, Any]],
    poll_seconds: float,
    keepalive_seconds: float | None,
) -> AsyncIterator[dict[str, Any] | None]:
    """Alternate between reading the log after ``last`` and waiting for the doorbell."""
    loop = asyncio.get_running_loop()
    sent_at = loop.time()
    while True:
        for event in await storage.aread_events(run_id, last):
            last, sent_at = int(event["seq"]), loop.time()
            yield event
        while True:
            if keepalive_seconds is not None and loop.time() - sent_at >= keepalive_seconds:
                sent_at = loop.time()
                yield None
            try:
                arrived = [await asyncio.wait_for(live.get(), poll_seconds)]
            except TimeoutError:
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
