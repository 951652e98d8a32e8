"""Following a run: the replay is read a page at a time; a stream with a doorbell sets no timer."""

from __future__ import annotations

import asyncio
from typing import Any

from workflows_app.core.follow import _Timing, afollow
from workflows_app.core.hub import hub
from workflows_app.core.memory import InMemoryStorage
from workflows_app.core.storage import Change, RunRecord
from workflows_app.testing import awaituntil


class CountingStorage(InMemoryStorage):
    """The in-memory storage, noting how many events each read of the log returned."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[int] = []

    async def aread_events(self, run_id: str, after_seq: int = 0, limit: int | None = None) -> list[Any]:
        events = await super().aread_events(run_id, after_seq, limit)
        self.reads.append(len(events))
        return events


async def a_run_with_events(storage: InMemoryStorage, count: int, status: str) -> str:
    events = [{"type": "workflow-step-output", "from": "USER", "payload": {"n": n}} for n in range(count)]
    events.append({"type": "workflow-finish", "from": "WORKFLOW", "payload": {"workflow_status": status}})
    await storage.atransact(
        "r1",
        lambda record: Change(run={"status": status}, events=events),
        create=RunRecord(run_id="r1", workflow_id="w"),
    )
    return "r1"


async def test_a_replay_reads_the_log_a_page_at_a_time() -> None:
    storage = CountingStorage()
    run_id = await a_run_with_events(storage, 1_000, "success")
    replayed = [e async for e in afollow(storage, None, run_id, 0, until_finished=True, page_size=64)]
    assert [e["seq"] for e in replayed] == list(range(1, 1_002))
    assert max(storage.reads) == 64
    assert sum(storage.reads) == 1_001


async def test_a_replay_of_a_live_run_is_paged_then_the_doorbell_brings_what_follows() -> None:
    storage = CountingStorage()
    run_id = await a_run_with_events(storage, 300, "suspended")
    following = afollow(storage, None, run_id, 10, page_size=50)
    seqs = [(await anext(following))["seq"] for _ in range(291)]  # type: ignore[index]
    assert seqs == list(range(11, 302))
    assert max(storage.reads) == 50
    reads = len(storage.reads)
    waiting = asyncio.ensure_future(anext(following))
    live = {"type": "workflow-step-output", "from": "USER", "payload": {}, "seq": 302, "run_id": run_id}
    await awaituntil(lambda: hub._listeners.get(run_id))
    hub.publish(run_id, live)
    assert await waiting == live
    assert len(storage.reads) == reads  # the doorbell's event continued the log: nothing read
    await following.aclose()


def test_a_stream_waits_for_its_doorbell_with_no_deadline() -> None:
    """Without ``poll_seconds`` a quiet run is never read on a timer; keep-alives only count down."""
    assert _Timing(None, None, 500).wait_seconds(quiet_for=3600.0) is None
    assert _Timing(None, 15.0, 500).wait_seconds(quiet_for=5.0) == 10.0
    assert _Timing(0.5, None, 500).wait_seconds(quiet_for=0.0) == 0.5
