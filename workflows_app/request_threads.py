"""What outlives a request under ASGI runs on no thread and no connection of its own.

Under ASGI, Django gives each request a thread for its synchronous work
(asgiref's ``ThreadSensitiveContext``), and that thread keeps its database
connection until the response ends. A Server-Sent Events response ends when the
client leaves: a hundred idle streams held a hundred threads and a hundred
PostgreSQL connections, and the next requests failed for want of one. A task
that outlives its request (a run started over REST) is worse off: its later
calls made the request a new thread, which nothing ever ended.

So a stream gives back its request's connection and thread once its response
begins (:func:`aleave_request_thread`), and its later work -- reading pages of
the log, checking access again -- runs in tasks made by :func:`spawn`, whose
synchronous calls go to the one thread that WebSocket consumers use too
(asgiref's thread for work outside any request). An operation that outlives
its request runs with a thread of its own instead, ended with it
(:func:`detach`). A stream's reads are short database accesses that give their
connection back (:class:`ShortReads`, and ``stream_access``'s checks), through
channels' ``database_sync_to_async``.

Ending the request's thread early uses two names asgiref does not document,
``SyncToAsync.thread_sensitive_context`` and ``context_to_thread_executor``
(there since asgiref 3.3); without them a stream still works and only keeps that
idle thread.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from channels.db import database_sync_to_async
from django.db import connections

from .core.follow import EventLog
from .core.storage import RunRecord

T = TypeVar("T")


async def aleave_request_thread() -> None:
    """Close the request thread's connections, then let that thread end.

    Django makes a new thread if the request needs one again (to finish the
    response), and ends it with the request.
    """
    await sync_to_async(connections.close_all)()
    request_context = getattr(SyncToAsync, "thread_sensitive_context", None)
    executors = getattr(SyncToAsync, "context_to_thread_executor", None)
    if request_context is None or executors is None:
        return
    context = request_context.get(None)
    executor = executors.pop(context, None) if context is not None else None
    if executor is not None:
        executor.shutdown(wait=False)


def detach(work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """A task that outlives the request, with a thread of its own for its database work.

    An operation (a run driven in this process) keeps the parallelism of a
    request: its own thread and connection while it runs, both ended with it.
    """
    return spawn(_aon_own_thread(work))


async def _aon_own_thread(work: Coroutine[Any, Any, T]) -> T:
    async with ThreadSensitiveContext():
        try:
            return await work
        finally:
            await sync_to_async(connections.close_all)()


def spawn(work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """A task whose synchronous calls run on the shared thread, not the request's (which ends).

    The task starts from a fresh context: a copy of the request's would carry
    the request's executor (an async view's, or a sync view's own thread).
    """
    return asyncio.get_running_loop().create_task(work, context=contextvars.Context())


class ShortReads:
    """A storage's reads of the log, each a short database access that gives its connection back."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage

    async def aget_run(self, run_id: str) -> RunRecord | None:
        record: RunRecord | None = await database_sync_to_async(self._storage.get_run)(run_id)
        return record

    async def aread_events(
        self, run_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = await database_sync_to_async(self._storage.read_events)(
            run_id, after_seq, limit
        )
        return events


def short_reads(storage: Any) -> EventLog:
    """``storage`` itself when its reads hold no connection (in memory), else :class:`ShortReads`."""
    return ShortReads(storage) if hasattr(storage, "read_events") else storage
