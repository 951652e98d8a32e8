"""A run's event log over HTTP: pages of JSON, and a Server-Sent Events stream.

The stream replays the stored log after the client's last ``seq`` (the
``after`` parameter, or the ``Last-Event-ID`` header a reconnecting
``EventSource`` sends), then follows the run live through
:func:`workflows_app.core.follow.afollow`, as the WebSocket does: in order, with
no gap and no duplicate, whichever process committed the events. It ends once
the run has finished and every event up to its end has been sent, or, with a
``stream-closed`` event saying why, once the caller may no longer see the run
(:mod:`workflows_app.stream_access`: logged out, deactivated, token revoked,
permission taken away). While the run is quiet a stream holds no thread and no
database connection (:mod:`workflows_app.request_threads`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from ..conf import workflow_settings
from ..core import runtime
from ..core.follow import afollow
from ..models import WorkflowJSONEncoder
from ..request_threads import aleave_request_thread, short_reads, spawn
from ..stream_access import Credentials, Nudge, Refusal, acheck, aguard, listen

PAGE = 500
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


async def _aevents_after(run_id: str, after: int) -> AsyncGenerator[dict[str, Any] | None]:
    """The run's events after ``after``, then live ones; ``None`` when a keep-alive is due."""
    storage, bus = short_reads(runtime.get_storage()), runtime.get_bus()
    async for event in afollow(
        storage,
        bus,
        run_id,
        after,
        until_finished=True,
        keepalive_seconds=KEEPALIVE_SECONDS,
        page_size=int(workflow_settings.STREAM_REPLAY_PAGE),
    ):
        yield event


def sse_message(event: dict[str, Any] | None) -> str:
    """One Server-Sent Events message: ``id`` is the seq, ``event`` the type."""
    if event is None:
        return ": keep-alive\n\n"
    data = json.dumps(event, cls=WorkflowJSONEncoder)
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {data}\n\n"


def sse_closed(refusal: Refusal) -> str:
    """The last message of a stream its caller may no longer receive."""
    data = json.dumps({"code": refusal.code, "reason": refusal.reason})
    return f"event: stream-closed\ndata: {data}\n\n"


async def _anext(events: AsyncIterator[dict[str, Any] | None]) -> dict[str, Any] | None:
    return await anext(events)


async def asse_stream(run_id: str, after: int, credentials: Credentials) -> AsyncIterator[str]:
    """The stream's messages, while ``credentials`` may see the run (checked again as it goes)."""
    # The retry hint makes a browser reconnect quickly, sending Last-Event-ID.
    yield "retry: 1000\n\n"
    await aleave_request_thread()

    async def check() -> Refusal | None:
        return (await acheck(credentials, run_id))[1]

    nudged, stop_listening = listen(credentials.user_id)
    # Access was checked before the response began; a change since then was not heard: look again.
    nudged.put_nowait(Nudge(credentials.user_id))
    events = _aevents_after(run_id, after)
    guard = spawn(aguard(credentials, check, nudged))
    step: asyncio.Future[dict[str, Any] | None] | None = None
    try:
        while True:
            step = spawn(_anext(events))
            await asyncio.wait({step, guard}, return_when=asyncio.FIRST_COMPLETED)
            if guard.done():
                yield sse_closed(guard.result())
                return
            try:
                event = step.result()
            except StopAsyncIteration:
                return
            yield sse_message(event)
    finally:
        stop_listening()
        for task in (guard, step):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await task
        await events.aclose()
