"""The task queue, on both storages: claims, fenced leases, the sweeper, cancel, restart, heartbeats.

Time is a clock the test moves (both storages accept one), so leases expire
when the test says so, never because the machine was slow.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflows_app.core.limits import ADMIT, Gate
from workflows_app.core.storage import Change, Claim, LeaseLost, RunRecord, Storage, TaskRow

from .conftest import Clock

pytestmark = pytest.mark.django_db(transaction=True)

LEASE = 1_000


def writes(**change: Any) -> Callable[[RunRecord], Change]:
    return lambda run: Change(run=change.pop("run", {}), **change)


async def a_run(storage: Storage, run_id: str = "r1", *tasks: TaskRow) -> None:
    create = RunRecord(run_id=run_id, workflow_id="wf", status="running")
    await storage.atransact(run_id, writes(tasks=list(tasks)), create=create)


def task(key: str = "s", handout: int = 1, *, queue: str = "q", **fields: Any) -> TaskRow:
    return TaskRow(key=key, handout=handout, kind=fields.pop("kind", "step"), queue=queue, **fields)


async def test_a_queued_task_is_claimed_once(storage: Storage) -> None:
    await a_run(storage, "r1", task())
    (first,) = await storage.aclaim(["q"], "w1", 10, LEASE)
    assert (first.run_id, first.key, first.handout, first.lease, first.deliveries) == ("r1", "s", 1, 1, 0)
    assert await storage.aclaim(["q"], "w2", 10, LEASE) == []
    assert await storage.aclaim(["other"], "w2", 10, LEASE) == []


async def test_claims_take_the_oldest_due_rows_up_to_the_limit(storage: Storage, clock: Clock) -> None:
    await a_run(storage, "r1", task("late", delay_ms=5_000), task("a"), task("b"), task("c"))
    claimed = await storage.aclaim(["q"], "w1", 2, LEASE)
    assert [c.key for c in claimed] == ["a", "b"]
    assert [c.key for c in await storage.aclaim(["q"], "w1", 10, LEASE)] == ["c"]
    clock.now += 5_000
    assert [c.key for c in await storage.aclaim(["q"], "w1", 10, LEASE)] == ["late"]


async def test_a_row_claimed_in_its_commit_belongs_to_that_worker(storage: Storage) -> None:
    await a_run(storage, "r1", task(owner="w1", lease_ms=LEASE))
    assert await storage.aclaim(["q"], "w2", 10, LEASE) == []
    mine = Claim("r1", "s", 1, "step", 1)
    assert await storage.arenew([mine], LEASE) == {mine.fence}


async def test_only_the_current_lease_renews_and_completes(storage: Storage, clock: Clock) -> None:
    await a_run(storage, "r1", task())
    (first,) = await storage.aclaim(["q"], "w1", 1, LEASE)
    clock.now += LEASE + 1
    assert await storage.asweep(["q"]) == 1
    (second,) = await storage.aclaim(["q"], "w2", 1, LEASE)
    assert (second.lease, second.deliveries) == (2, 1)
    assert await storage.arenew([first, second], LEASE) == {second.fence}
    with pytest.raises(LeaseLost) as lost:
        await storage.atransact("r1", writes(events=[{"type": "x", "payload": {}}]), fences=[first, second])
    assert lost.value.lost == [first]
    assert await storage.aread_events("r1") == []  # nothing written
    await storage.atransact("r1", writes(events=[{"type": "x", "payload": {}}]), fences=[second])
    assert [e["type"] for e in await storage.aread_events("r1")] == ["x"]
    assert not await storage.aowes("r1", ["step"])  # the completing commit deleted the row


async def test_a_sweep_takes_back_only_expired_leases_and_two_sweeps_take_one_back_once(
    storage: Storage, clock: Clock
) -> None:
    await a_run(storage, "r1", task("expired"), task("fresh"))
    await storage.aclaim(["q"], "w1", 1, LEASE)
    clock.now += LEASE // 2
    await storage.aclaim(["q"], "w1", 1, LEASE)
    clock.now += LEASE // 2 + 1
    assert await storage.asweep(["other"]) == 0
    assert await storage.asweep(["q"]) == 1
    assert await storage.asweep(["q"]) == 0
    (again,) = await storage.aclaim(["q"], "w2", 10, LEASE)
    assert (again.key, again.deliveries) == ("expired", 1)


async def test_a_released_row_waits_without_counting_a_delivery(storage: Storage, clock: Clock) -> None:
    await a_run(storage, "r1", task())
    (held,) = await storage.aclaim(["q"], "w1", 1, LEASE)
    assert await storage.arelease(held, 5_000)
    assert not await storage.arelease(held, 5_000)
    assert await storage.aclaim(["q"], "w2", 1, LEASE) == []
    clock.now += 5_000
    (again,) = await storage.aclaim(["q"], "w2", 1, LEASE)
    assert (again.lease, again.deliveries) == (2, 0)


async def test_cancel_marks_running_rows_and_forgets_queued_ones(storage: Storage, clock: Clock) -> None:
    await a_run(storage, "r1", task("running"), task("queued", handout=2))
    (running,) = await storage.aclaim(["q"], "w1", 1, LEASE)
    await storage.atransact("r1", writes(run={"status": "canceled"}, reset="cancel"))
    assert await storage.arenew([running], LEASE) == set()
    assert await storage.aclaim(["q"], "w2", 10, LEASE) == []
    assert await storage.aholders("r1") == {"w1"}  # its worker still has the grace period
    await storage.adrop([running])
    assert not await storage.aowes("r1", ["step"])


async def test_canceled_rows_are_forgotten_once_their_lease_ends(storage: Storage, clock: Clock) -> None:
    await a_run(storage, "r1", task())
    await storage.aclaim(["q"], "w1", 1, LEASE)
    await storage.atransact("r1", writes(reset="cancel"))
    clock.now += LEASE + 1
    assert await storage.asweep(["q"]) == 0
    assert not await storage.aowes("r1", ["step"])


async def test_drop_replaces_the_work_of_a_run_in_the_same_commit(storage: Storage) -> None:
    await a_run(storage, "r1", task("old"))
    (old,) = await storage.aclaim(["q"], "w1", 1, LEASE)
    await storage.atransact("r1", writes(reset="drop", tasks=[task("new", handout=2)]))
    assert await storage.arenew([old], LEASE) == set()
    assert [c.key for c in await storage.aclaim(["q"], "w2", 10, LEASE)] == ["new"]


async def test_the_holders_of_a_run_are_the_owners_of_its_live_leases(storage: Storage, clock: Clock) -> None:
    await a_run(storage, "r1", task("a"), task("b", handout=2))
    assert await storage.aholders("r1") == set()
    await storage.aclaim(["q"], "w1", 1, LEASE)
    await storage.aclaim(["q"], "w2", 1, LEASE)
    assert await storage.aholders("r1") == {"w1", "w2"}
    clock.now += LEASE + 1
    assert await storage.aholders("r1") == set()


async def test_owes_tells_the_kinds_of_work_left(storage: Storage) -> None:
    await a_run(storage, "r1", task("callbacks", kind="callbacks"))
    assert await storage.aowes("r1", ["callbacks"])
    assert not await storage.aowes("r1", ["timer"])


async def test_a_commit_that_changes_nothing_still_completes_its_claim(storage: Storage) -> None:
    await a_run(storage, "r1", task())
    (held,) = await storage.aclaim(["q"], "w1", 1, LEASE)
    assert await storage.atransact("r1", lambda run: None, fences=[held]) is None
    assert not await storage.aowes("r1", ["step"])


async def test_deleting_a_run_deletes_its_tasks(storage: Storage) -> None:
    await a_run(storage, "r1", task())
    assert await storage.adelete_run("r1")
    assert await storage.aclaim(["q"], "w1", 1, LEASE) == []


async def test_heartbeats_tell_which_workers_are_alive(storage: Storage) -> None:
    await storage.aheartbeat("w1", {"host": "h", "pid": 1, "concurrency": 4, "running": 2})
    workers = await storage.alive_workers(datetime.now(UTC) - timedelta(minutes=1))
    assert [(w["worker"], w["running"]) for w in workers] == [("w1", 2)]
    assert await storage.alive_workers(datetime.now(UTC) + timedelta(minutes=1)) == []


# -- gated rows: limits and rates (core/limits.py) -------------------------------------------------
async def test_gated_rows_are_claimed_while_their_key_has_room_oldest_first(storage: Storage) -> None:
    gate = Gate("step:narrow", limit_n=2)
    await a_run(storage, "r1", *(task(key, gate=gate) for key in "abcd"), task("free"))
    claimed = await storage.aclaim(["q"], "w1", 10, LEASE)
    assert sorted(c.key for c in claimed) == ["a", "b", "free"]
    assert all(c.limited == (c.key != "free") for c in claimed)
    assert await storage.aclaim(["q"], "w2", 10, LEASE) == []
    assert await storage.aclaim(["q"], "w2", 10, LEASE, gated=False) == []  # gated rows left alone
    await storage.adrop([c for c in claimed if c.key == "a"])  # one ends: its slot is free
    assert [c.key for c in await storage.aclaim(["q"], "w2", 10, LEASE)] == ["c"]


async def test_a_workflow_key_counts_its_runs_started_and_not_ended(storage: Storage) -> None:
    gate = Gate("run:wf:ann", limit_n=1)
    held = RunRecord(run_id="r0", workflow_id="wf", status="suspended", limit_key="run:wf:ann")
    await storage.atransact("r0", writes(), create=held)
    await a_run(storage, "r1", task(ADMIT, kind=ADMIT, gate=gate))
    assert await storage.aclaim(["q"], "w1", 10, LEASE) == []
    await storage.atransact("r0", writes(run={"status": "success"}))
    (admitted,) = await storage.aclaim(["q"], "w1", 10, LEASE)
    assert (admitted.run_id, admitted.kind) == ("r1", ADMIT)


async def test_a_rate_counts_claims_within_its_window(storage: Storage, clock: Clock) -> None:
    gate = Gate("step:rated", rate_n=2, rate_ms=10_000)
    await a_run(storage, "r1", *(task(key, gate=gate) for key in "abc"))
    first = await storage.aclaim(["q"], "w1", 10, LEASE)
    assert [c.key for c in first] == ["a", "b"]
    await storage.adrop(first)  # ended, but still within the window
    assert await storage.aclaim(["q"], "w1", 10, LEASE) == []
    clock.now += 10_000
    assert [c.key for c in await storage.aclaim(["q"], "w1", 10, LEASE)] == ["c"]
