"""The queue of a run's written events: batches, order, the delay, and writes that failed to commit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from workflows_app.engines.writes import WriterBatches


class Log:
    """A run log that records each commit; ``gate`` holds commits back while cleared."""

    def __init__(self) -> None:
        self.commits: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def commit(self, run_id: str, events: list[dict[str, Any]]) -> None:
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("database gone")
        self.commits.append([event["n"] for event in events])


async def _until(predicate: Any) -> None:
    async with asyncio.timeout(5):
        while not predicate():
            await asyncio.sleep(0.001)


async def test_writes_wait_for_the_delay_and_go_in_one_commit() -> None:
    log = Log()
    batches = WriterBatches(log.commit, delay=0.02)
    for n in range(100):
        await batches.aadd("run", {"n": n})
    assert log.commits == []
    await _until(lambda: log.commits)
    assert log.commits == [list(range(100))]


async def test_a_flush_waits_for_the_commit_in_flight_so_the_order_holds() -> None:
    log = Log()
    batches = WriterBatches(log.commit, delay=60)
    await batches.aadd("run", {"n": 0})
    log.gate.clear()
    first = asyncio.ensure_future(batches.aflush("run"))
    await _until(lambda: batches.pending("run") == 0)
    await batches.aadd("run", {"n": 1})
    second = asyncio.ensure_future(batches.aflush("run"))
    await asyncio.sleep(0)
    log.gate.set()
    await asyncio.gather(first, second)
    assert log.commits == [[0], [1]]


async def test_a_full_queue_commits_at_once_and_a_zero_delay_commits_each_write() -> None:
    log = Log()
    batches = WriterBatches(log.commit, delay=60, max_events=3)
    for n in range(7):
        await batches.aadd("run", {"n": n})
    assert log.commits == [[0, 1, 2], [3, 4, 5]]
    unbatched = WriterBatches(log.commit, delay=0)
    await unbatched.aadd("other", {"n": 9})
    assert log.commits[-1] == [9]


async def test_writes_whose_commit_failed_go_first_in_the_next_one() -> None:
    log = Log()
    batches = WriterBatches(log.commit, delay=60)
    await batches.aadd("run", {"n": 0})
    log.fail = True
    with pytest.raises(ConnectionError):
        await batches.aflush("run")
    log.fail = False
    await batches.aadd("run", {"n": 1})
    await batches.aflush("run")
    assert log.commits == [[0, 1]]
