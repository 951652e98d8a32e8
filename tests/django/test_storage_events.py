"""Conformance of the events part of storage: waits and kept events, ORM and in-memory alike."""

from __future__ import annotations

import pytest

from workflows_app.core.storage import Change, RunRecord, SentEvent, Storage

from .conftest import Clock

pytestmark = pytest.mark.django_db(transaction=True)


async def create(storage: Storage, run_id: str, waits: list[list[str | None]] | None = None) -> None:
    record = RunRecord(run_id=run_id, workflow_id="wf")
    await storage.atransact(run_id, lambda r: Change(run={"status": "suspended"}, waits=waits), create=record)


async def test_waits_are_written_by_the_commit_and_found_by_name_and_key(storage: Storage) -> None:
    await create(storage, "r1", [["/0:a", "paid", "o-1"]])
    await create(storage, "r2", [["/0:a", "paid", "o-1"], ["/1:b", "paid", None]])
    await create(storage, "r3", [["/0:a", "shipped", "o-1"]])
    assert await storage.awaiting_runs("paid", "o-1") == ["r1", "r2"]
    assert await storage.awaiting_runs("paid", None) == ["r2"]
    await storage.atransact("r1", lambda r: Change(run={"status": "running"}, waits=[]))
    assert await storage.awaiting_runs("paid", "o-1") == ["r2"]
    await storage.atransact("r2", lambda r: Change(run={"status": "running"}))  # waits unchanged
    assert await storage.awaiting_runs("paid", "o-1") == ["r2"]
    await storage.adelete_run("r2")
    assert await storage.awaiting_runs("paid", "o-1") == []


async def test_a_kept_event_goes_to_one_run_and_expires(storage: Storage, clock: Clock) -> None:
    await create(storage, "r1")
    await create(storage, "r2")
    kept = await storage.akeep_event(SentEvent(name="paid", data={"n": 1}, key="o-1"), keep_ms=1_000)
    assert (kept.id > 0, kept.sent_at, kept.expires_at) == (True, clock.now, clock.now + 1_000)
    assert [e.data for e in await storage.akept_events("r1", [("paid", "o-1")])] == [{"n": 1}]
    assert await storage.akept_events("r1", [("paid", "o-2")]) == []
    assert await storage.atake_event(kept.id, "r1") is True
    assert await storage.atake_event(kept.id, "r2") is False
    assert await storage.atake_event(kept.id, "r1") is True  # the same run again: a look done twice
    assert await storage.akept_events("r2", [("paid", "o-1")]) == []
    await storage.arelease_event(kept.id, "r1")
    assert [e.id for e in await storage.akept_events("r2", [("paid", "o-1")])] == [kept.id]
    clock.now += 1_000
    assert await storage.akept_events("r2", [("paid", "o-1")]) == []


async def test_an_event_sent_to_a_run_matches_its_name_whatever_the_key(storage: Storage) -> None:
    await create(storage, "r1")
    await create(storage, "r2")
    kept = await storage.akeep_event(SentEvent(name="paid", data=1, run_id="r1"), keep_ms=1_000)
    assert [e.id for e in await storage.akept_events("r1", [("paid", "any-key")])] == [kept.id]
    assert await storage.akept_events("r2", [("paid", None)]) == []
