"""GroupCommit: writes to one key that arrive during a flush go together in the next one."""

from __future__ import annotations

import asyncio

import pytest

from workflows_app.engines.batching import GroupCommit
from workflows_app.testing import awaituntil


class Store:
    """A flush that blocks until released, recording each batch it was given."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[int]]] = []
        self.release = asyncio.Event()
        self.fail_on: int | None = None

    async def flush(self, key: str, items: list[int]) -> list[str]:
        self.batches.append((key, items))
        await self.release.wait()
        if self.fail_on in items:
            raise ValueError(f"cannot write {self.fail_on}")
        return [f"{key}:{item}" for item in items]


async def started(store: Store, count: int) -> None:
    await awaituntil(lambda: len(store.batches) >= count)


async def queued(group: GroupCommit[int, str], key: str, count: int) -> None:
    """Until ``count`` writes wait for the flush in flight (white-box: the queue is private)."""
    await awaituntil(lambda: len(group._queued.get(key, ())) >= count)


async def test_writes_that_arrive_during_a_flush_go_together_in_the_next() -> None:
    store = Store()
    group: GroupCommit[int, str] = GroupCommit(store.flush)
    first = asyncio.ensure_future(group.submit("run", 1))
    await started(store, 1)
    others = [asyncio.ensure_future(group.submit("run", n)) for n in (2, 3, 4)]
    await queued(group, "run", 3)
    store.release.set()
    assert await asyncio.gather(first, *others) == ["run:1", "run:2", "run:3", "run:4"]
    assert store.batches == [("run", [1]), ("run", [2, 3, 4])]


async def test_keys_do_not_wait_for_one_another() -> None:
    store = Store()
    group: GroupCommit[int, str] = GroupCommit(store.flush)
    first = asyncio.ensure_future(group.submit("a", 1))
    second = asyncio.ensure_future(group.submit("b", 2))
    await started(store, 2)
    assert store.batches == [("a", [1]), ("b", [2])]
    store.release.set()
    assert await asyncio.gather(first, second) == ["a:1", "b:2"]


async def test_a_failed_flush_fails_its_batch_only() -> None:
    store = Store()
    store.fail_on = 2
    group: GroupCommit[int, str] = GroupCommit(store.flush)
    first = asyncio.ensure_future(group.submit("run", 1))
    await started(store, 1)
    failing = [asyncio.ensure_future(group.submit("run", n)) for n in (2, 3)]
    await queued(group, "run", 2)
    store.release.set()
    assert await first == "run:1"
    for task in failing:
        with pytest.raises(ValueError, match="cannot write 2"):
            await task
    assert await group.submit("run", 5) == "run:5"


async def test_cancelling_the_flushing_caller_cancels_the_waiting_ones() -> None:
    store = Store()
    group: GroupCommit[int, str] = GroupCommit(store.flush)
    first = asyncio.ensure_future(group.submit("run", 1))
    await started(store, 1)
    waiting = asyncio.ensure_future(group.submit("run", 2))
    await queued(group, "run", 1)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    with pytest.raises(asyncio.CancelledError):
        await waiting
    store.release.set()
    assert await group.submit("run", 3) == "run:3"
