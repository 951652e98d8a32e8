"""Group commit: callers that write to the same key while a write of it is in flight go together.

The items of a foreach (and the branches of a parallel) finish at nearly the
same time, and each outcome is a commit on the same run row: one at a time,
each waiting for the row. Instead, the outcomes that arrive while a commit of
their run is in flight wait for it to end and then go in one commit together,
so the busier a run is, the more each commit carries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """Per-key batching of writes: ``flush(key, items)`` returns one result per item, in order."""

    def __init__(self, flush: Callable[[str, list[Item]], Awaitable[list[Result]]]) -> None:
        self._flush = flush
        self._queued: dict[str, list[tuple[Item, asyncio.Future[Result]]]] = {}
        self._flushing: set[str] = set()

    async def submit(self, key: str, item: Item) -> Result:
        """Write ``item`` with whatever else is queued for ``key``; its own result."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queued.setdefault(key, []).append((item, future))
        if key not in self._flushing:
            await self._adrain(key)
        return await future

    async def _adrain(self, key: str) -> None:
        """Flush ``key`` until nothing is queued for it; the caller that found it idle does this."""
        self._flushing.add(key)
        try:
            while batch := self._queued.pop(key, None):
                try:
                    results = await self._flush(key, [item for item, _ in batch])
                except asyncio.CancelledError:
                    for _, future in batch:
                        future.cancel()
                    raise
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._flushing.discard(key)
            # Cancelled while flushing: nobody is left to flush what is still queued.
            for _, future in self._queued.pop(key, []):
                future.cancel()
