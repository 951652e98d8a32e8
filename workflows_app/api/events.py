"""A run's event log over HTTP: pages of JSON, and a Server-Sent Events stream.

The stream replays the stored log after the client's last ``seq`` (the
``after`` parameter, or the ``Last-Event-ID`` header a reconnecting
``EventSource`` sends), then follows the run live through
:func:`workflows_app.core.follow.afollow`, as the WebSocket does: in order, with
no gap and no duplicate, whichever process committed the events. It ends once
the run has finished and every event up to its end has been sent.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ..core import runtime
from ..core.follow import afollow as follow
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
    storage, bus = runtime.get_storage(), runtime.get_bus()
    async for event in follow(
        storage,
        bus,
        run_id,
        after,
        poll_seconds=POLL_SECONDS,
        until_finished=True,
        keepalive_seconds=KEEPALIVE_SECONDS,
    ):
        yield event


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
