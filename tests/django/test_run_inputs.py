"""A run's large input is read from the database once per process, not once per step.

A worker reads the run for every task of a foreach; when the foreach is over the
run's input, reading that input each time made an item's cost grow with the
foreach (``workflows_app/storage/_inputs.py``). These tests run on the database of
``DATABASE_URL`` (SQLite or PostgreSQL).
"""

from __future__ import annotations

from typing import Any

import pytest

from workflows_app.core.storage import Change, RunRecord
from workflows_app.models import WorkflowRun
from workflows_app.storage import DjangoStorage
from workflows_app.storage._inputs import LARGE

pytestmark = pytest.mark.django_db(transaction=True)

ITEMS = list(range(LARGE // 3))  # more than LARGE bytes of JSON


async def create(storage: DjangoStorage, run_id: str, data: Any) -> None:
    record = RunRecord(run_id=run_id, workflow_id="wf", input=data)
    await storage.atransact(run_id, lambda _: Change(run={"status": "running"}), create=record)


async def stored_input_changed_behind_the_storage(run_id: str, data: Any) -> None:
    """What no code path does (a run's input never changes): shows whether a read sent it again."""
    await WorkflowRun.objects.filter(run_id=run_id).aupdate(input=data)


async def test_a_large_input_read_once_is_not_read_from_the_database_again() -> None:
    storage = DjangoStorage()
    await create(storage, "big", ITEMS)
    first = await storage.aget_run("big")
    await stored_input_changed_behind_the_storage("big", ["changed"])
    again = await storage.aget_run("big")
    assert first is not None and again is not None
    assert again.input == ITEMS
    assert again.version == first.version  # the rest of the row is read as always


async def test_a_small_input_is_read_every_time() -> None:
    storage = DjangoStorage()
    await create(storage, "small", [1, 2, 3])
    await storage.aget_run("small")
    await stored_input_changed_behind_the_storage("small", ["changed"])
    again = await storage.aget_run("small")
    assert again is not None and again.input == ["changed"]


async def test_a_run_created_again_under_its_id_is_read_with_its_own_input() -> None:
    storage = DjangoStorage()
    await create(storage, "reused", ITEMS)
    await storage.aget_run("reused")
    await storage.adelete_run("reused")
    await create(storage, "reused", [*ITEMS, "new"])
    again = await storage.aget_run("reused")
    assert again is not None and again.input == [*ITEMS, "new"]


async def test_a_commit_decided_again_under_the_lock_sees_the_input() -> None:
    storage = DjangoStorage()
    await create(storage, "busy", ITEMS)
    await storage.aget_run("busy")
    stale = await storage.aget_run("busy")
    assert stale is not None
    await storage.atransact("busy", lambda _: Change(run={"status": "running"}))  # another commit first
    seen: list[Any] = []

    def change(record: RunRecord) -> Change:
        seen.append(record.input)
        return Change(run={"status": "running"})

    await storage.atransact("busy", change, known=stale)
    assert seen[-1] == ITEMS
