"""The storage conformance suite: the ORM storage and the in-memory one behave alike.

Every test runs on both implementations; the ORM one on the database of
``DATABASE_URL`` (SQLite or PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from workflows_app.core.errors import ResumeConflictError, WorkflowError
from workflows_app.core.memory import InMemoryStorage
from workflows_app.core.storage import Change, RunRecord, StepRecord, Storage, TaskRow, latest_steps
from workflows_app.storage import DjangoStorage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["memory", "django"])
def storage(request: pytest.FixtureRequest) -> Iterator[Storage]:
    yield InMemoryStorage() if request.param == "memory" else DjangoStorage()


def run_record(run_id: str = "r1", **fields: Any) -> RunRecord:
    return RunRecord(run_id=run_id, workflow_id=fields.pop("workflow_id", "wf"), **fields)


def writes(
    run: dict[str, Any] | None = None,
    steps: Sequence[StepRecord] = (),
    events: Sequence[dict[str, Any]] = (),
) -> Callable[[RunRecord], Change]:
    return lambda record: Change(run=run or {}, steps=steps, events=events)


async def create(storage: Storage, record: RunRecord | None = None, **change: Any) -> None:
    record = record or run_record()
    await storage.atransact(record.run_id, writes(**change), create=record)


async def test_a_run_is_created_by_its_first_commit(storage: Storage) -> None:
    record = run_record(input={"a": 1}, resource_id="user-1", request_context={"k": "v"}, owner=None)
    await create(
        storage, record, run={"status": "running"}, events=[{"type": "workflow-start", "payload": {}}]
    )
    run = await storage.aget_run("r1")
    assert run is not None
    assert (run.workflow_id, run.status, run.input, run.resource_id) == ("wf", "running", {"a": 1}, "user-1")
    assert run.request_context == {"k": "v"}
    assert run.version == 1
    assert run.created_at is not None
    assert [e["seq"] for e in await storage.aread_events("r1")] == [1]
    assert await storage.aget_run("missing") is None


async def test_a_run_id_is_unique_and_a_refused_create_writes_nothing(storage: Storage) -> None:
    await create(storage)
    with pytest.raises(WorkflowError, match="already exists"):
        await create(storage, events=[{"type": "x", "payload": {}}])
    assert await storage.aread_events("r1") == []


async def test_a_commit_changes_the_run_and_bumps_its_version(storage: Storage) -> None:
    await create(storage)
    await storage.atransact("r1", writes(run={"status": "running", "run_state": {"frames": {}}}))
    run = await storage.aget_run("r1")
    assert run is not None
    assert (run.status, run.run_state, run.version) == ("running", {"frames": {}}, 2)


async def test_change_sees_the_run_as_committed(storage: Storage) -> None:
    await create(storage, run={"status": "running"})
    seen: list[tuple[str, int]] = []

    def change(record: RunRecord) -> Change:
        seen.append((record.status, record.version))
        return Change(run={"status": "success"})

    await storage.atransact("r1", change)
    assert seen[-1] == ("running", 1)


async def test_events_get_consecutive_seqs_across_commits(storage: Storage) -> None:
    await create(storage)
    first = await storage.atransact(
        "r1", writes(events=[{"type": "a", "payload": {}}, {"type": "b", "payload": {"x": 1}}])
    )
    second = await storage.acommit("r1", events=[{"type": "c", "from": "USER", "payload": None}])
    assert (first, second) == ([1, 2], [3])
    events = await storage.aread_events("r1")
    assert [(e["seq"], e["type"], e["from"]) for e in events] == [
        (1, "a", "WORKFLOW"),
        (2, "b", "WORKFLOW"),
        (3, "c", "USER"),
    ]
    assert events[1] == {"type": "b", "run_id": "r1", "from": "WORKFLOW", "payload": {"x": 1}, "seq": 2}
    assert [e["seq"] for e in await storage.aread_events("r1", after_seq=1, limit=1)] == [2]


async def test_steps_are_upserted_on_their_coordinate(storage: Storage) -> None:
    await create(storage)
    await storage.atransact(
        "r1", writes(steps=[StepRecord(path="s", status="running", payload={"a": 1}, started_at=5)])
    )
    done = StepRecord(path="s", status="success", payload={"a": 1}, output={"b": 2}, started_at=5, ended_at=9)
    await storage.atransact("r1", writes(steps=[done]))
    rows = await storage.aget_steps("r1")
    assert len(rows) == 1
    assert (rows[0].status, rows[0].output, rows[0].ended_at) == ("success", {"b": 2}, 9)


async def test_get_step_is_the_latest_iteration_and_attempt_outside_foreach_items(storage: Storage) -> None:
    await create(storage)
    rows = [
        StepRecord(path="loop", iteration=1, status="success", output=1),
        StepRecord(path="loop", iteration=2, attempt=0, status="failed"),
        StepRecord(path="loop", iteration=2, attempt=1, status="success", output=2),
        StepRecord(path="loop", foreach_index=0, iteration=3, status="success", output="item"),
    ]
    await storage.atransact("r1", writes(steps=rows))
    step = await storage.aget_step("r1", "loop")
    assert step is not None
    assert (step.iteration, step.attempt, step.output) == (2, 1, 2)
    assert latest_steps(await storage.aget_steps("r1"))["loop"].output == 2
    assert await storage.aget_step("r1", "other") is None


async def test_rows_are_read_back_by_coordinate_by_foreach_items_and_one_element_at_a_time(
    storage: Storage,
) -> None:
    """What plan reads inside a commit: the run state names rows instead of holding their values."""
    await create(storage)
    rows = [
        StepRecord(path="make", status="success", output=[{"a": 1}, "two", 3, None]),
        StepRecord(path="each", foreach_index=0, status="success", output=10),
        StepRecord(path="each", foreach_index=1, attempt=1, status="success", output=11),
        StepRecord(path="each", foreach_index=0, iteration=2, status="success", output=20),
        StepRecord(path="each", status="running"),
    ]
    await storage.atransact("r1", writes(steps=rows))
    wanted = [("make", None, 0, 0), ("each", 1, 0, 1), ("nowhere", None, 0, 0)]
    found = await sync_to_async(storage.read_steps)("r1", wanted)
    assert sorted((row.path, row.foreach_index, row.output) for row in found) == [
        ("each", 1, 11),
        ("make", None, [{"a": 1}, "two", 3, None]),
    ]
    items = await sync_to_async(storage.read_items)("r1", "each", 0)
    assert sorted((row.foreach_index, row.attempt, row.output) for row in items) == [(0, 0, 10), (1, 1, 11)]
    element = sync_to_async(storage.read_output_item)
    assert [await element("r1", ("make", None, 0, 0), index) for index in range(5)] == [
        {"a": 1},
        "two",
        3,
        None,
        None,
    ]
    assert await element("r1", ("nowhere", None, 0, 0), 0) is None


async def test_an_expected_version_that_changed_is_a_conflict_and_writes_nothing(storage: Storage) -> None:
    await create(storage)
    await storage.acommit("r1", run={"status": "running"}, expected_version=1)
    with pytest.raises(ResumeConflictError):
        await storage.atransact(
            "r1",
            lambda run: Change(
                run={"status": "failed"},
                steps=[StepRecord(path="s")],
                events=[{"type": "x", "payload": {}}],
                tasks=[TaskRow("k", 1, "step", "q")],
            ),
            expected_version=1,
        )
    with pytest.raises(ResumeConflictError):
        await storage.acommit("r1", run={"status": "failed"}, expected_version=1)
    run = await storage.aget_run("r1")
    assert run is not None
    assert (run.status, run.version) == ("running", 2)
    assert await storage.aget_steps("r1") == []
    assert await storage.aread_events("r1") == []
    assert not await storage.aowes("r1", ["step"])


async def test_list_runs_filters_orders_newest_first_and_counts(storage: Storage) -> None:
    for n, (workflow_id, status, resource) in enumerate(
        [("a", "success", "u1"), ("a", "failed", "u2"), ("b", "success", "u1"), ("a", "success", "u1")]
    ):
        await create(
            storage, run_record(f"r{n}", workflow_id=workflow_id, status=status, resource_id=resource)
        )
    runs, total = await storage.alist_runs(workflow_id="a")
    assert total == 3
    assert [r.run_id for r in runs] == ["r3", "r1", "r0"]
    runs, total = await storage.alist_runs(workflow_id="a", status="success", resource_id="u1", limit=1)
    assert (total, [r.run_id for r in runs]) == (2, ["r3"])
    runs, _ = await storage.alist_runs(limit=2, offset=1)
    assert [r.run_id for r in runs] == ["r2", "r1"]
    future = datetime.now(UTC) + timedelta(days=1)
    assert (await storage.alist_runs(from_date=future))[1] == 0
    assert (await storage.alist_runs(to_date=future))[1] == 4


async def test_delete_removes_the_run_with_its_steps_and_events(storage: Storage) -> None:
    await create(storage, steps=[StepRecord(path="s")], events=[{"type": "x", "payload": {}}])
    assert await storage.adelete_run("r1") is True
    assert await storage.aget_run("r1") is None
    assert await storage.aget_steps("r1") == []
    assert await storage.aread_events("r1") == []
    assert await storage.adelete_run("r1") is False


async def test_json_columns_come_back_as_json(storage: Storage) -> None:
    """Integer keys become strings, in both implementations."""
    await create(storage)
    await storage.atransact(
        "r1", writes(run={"run_state": {"by_index": {0: "a"}}}, steps=[StepRecord(path="s", output={1: 2})])
    )
    run = await storage.aget_run("r1")
    assert run is not None
    assert run.run_state == {"by_index": {"0": "a"}}
    (row,) = await storage.aget_steps("r1")
    assert row.output == {"1": 2}


async def test_a_commit_costs_a_constant_number_of_queries() -> None:
    """The hot path: one step's commit is the same statements at step 10 as at step 1,000."""
    storage = DjangoStorage()
    await create(storage)
    step_events = [
        {"type": "workflow-step-result", "payload": {}},
        {"type": "workflow-step-start", "payload": {}},
    ]

    def commit(n: int) -> int:
        change = Change(
            run={"status": "running", "run_state": {"n": n}},
            steps=[StepRecord(path=f"s{n}", status="success")],
            events=step_events,
            tasks=[TaskRow(f"t{n}", n, "step", "q", owner="w", lease_ms=1000)],
        )
        with CaptureQueriesContext(connection) as queries:
            storage.transact("r1", lambda run: change)
        return len([q for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))])

    counts = [await sync_to_async(commit)(n) for n in range(12)]
    assert len(set(counts)) == 1
    assert counts[0] <= (2 if connection.vendor == "postgresql" else 8)
