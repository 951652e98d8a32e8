"""A run's event log over HTTP: pages of JSON, and a Server-Sent Events stream.

The stream replays the stored log after the client's last ``seq`` (the
``after`` parameter, or the ``Last-Event-ID`` header a reconnecting
``EventSource`` sends), then follows the run live. Live messages are only a
doorbell: each ring makes the stream read the log again from its last ``seq``,
so events come in order, with no gap and no duplicate, whichever process
committed them and whatever the fan-out dropped. It ends once the run has
finished and every event up to its end has been sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from ..core import runtime
from ..core.hub import hub
from ..core.run import TERMINAL
from ..models import WorkflowJSONEncoder

PAGE = 500
# Without a doorbell the log is read this often anyway (a fan-out message may be lost).
POLL_SECONDS = 2.0
# A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_SECONDS = 15.0


async def aread_page(run_id: str, after: int, limit: int) -> dict[str, Any]:
    """Up to ``limit`` events after ``after``, and where the next page starts."""
    events = await runtime.get_storage().aread_events(run_id, after, limit + 1)
    page = events[:limit]
    return {
        "events": page,
        "last_seq": page[-1]["seq"] if page else after,
        "has_more": len(events) > limit,
    }


async def afollow(run_id: str, after: int) -> AsyncIterator[dict[str, Any] | None]:
    """The run's events after ``after``, then live ones; ``None`` when a keep-alive is due."""
    storage = runtime.get_storage()
    loop = asyncio.get_running_loop()
    async with _doorbell(run_id) as rings:
        last, sent_at = after, loop.time()
        while True:
            record = await storage.aget_run(run_id)  # before the log: a final status means the log is whole
            events = await storage.aread_events(run_id, last, PAGE)
            for event in events:
                last, sent_at = event["seq"], loop.time()
                yield event
            if len(events) == PAGE:
                continue
            if record is None or record.status in TERMINAL:
                return
            await _wait(rings, POLL_SECONDS)
            if loop.time() - sent_at >= KEEPALIVE_SECONDS:
                sent_at = loop.time()
                yield None


async def _wait(rings: asyncio.Queue[Any], timeout: float) -> None:
    """Wait for a ring, or ``timeout``; the rings queued with it are taken too."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(rings.get(), timeout=timeout)
    while not rings.empty():
        rings.get_nowait()


@contextlib.asynccontextmanager
async def _doorbell(run_id: str) -> AsyncIterator[asyncio.Queue[Any]]:
    """A queue that gets an item whenever the run may have new events.

    Commits made in this process ring through the in-process hub; with a bus that
    reaches other processes (Channels on Redis), their commits ring through it.
    """
    rings: asyncio.Queue[Any] = asyncio.Queue()
    unsubscribe = hub.subscribe(run_id, rings.put_nowait)
    try:
        bus = runtime.get_bus()
        if bus.local:
            yield rings
            return
        async with bus.watch(run_id) as remote:
            pump = asyncio.ensure_future(_forward(remote, rings))
            try:
                yield rings
            finally:
                pump.cancel()
    finally:
        unsubscribe()


async def _forward(source: asyncio.Queue[Any], target: asyncio.Queue[Any]) -> None:
    while True:
        target.put_nowait(await source.get())


def sse_message(event: dict[str, Any] | None) -> str:
    """One Server-Sent Events message: ``id`` is the seq, ``event`` the type."""
    if event is None:
        return ": keep-alive\n\n"
    data = json.dumps(event, cls=WorkflowJSONEncoder)
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {data}\n\n"


async def asse_stream(run_id: str, after: int) -> AsyncIterator[str]:
    # The retry hint makes a browser reconnect quickly, sending Last-Event-ID.
    yield "retry: 1000\n\n"
    async for event in afollow(run_id, after):
        yield sse_message(event)
