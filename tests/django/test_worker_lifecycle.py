"""A worker's life at its edges: stopping with work in hand, and work that keeps killing workers.

The worker runs on the real storage of the leg and the evented engine; the
test reads the task rows straight from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connection

from workflows_app import create_step, create_workflow
from workflows_app.core import runtime
from workflows_app.core.storage import CALLBACKS, Change, RunRecord, TaskRow
from workflows_app.engines.worker import Worker
from workflows_app.models import WorkflowTask

pytestmark = pytest.mark.django_db(transaction=True)


class Gate:
    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.entries = 0


GATES: dict[str, Gate] = {}
CALLS: dict[str, int] = {}


async def gated(ctx: Any) -> Any:
    CALLS[ctx.step_id] = CALLS.get(ctx.step_id, 0) + 1
    gate = GATES[ctx.step_id]
    gate.entries += 1
    gate.entered.set()
    await gate.release.wait()
    return {"n": ctx.input_data["n"] + 1}


async def counted(ctx: Any) -> Any:
    CALLS[ctx.step_id] = CALLS.get(ctx.step_id, 0) + 1
    return {"n": ctx.input_data["n"] + 1}


async def tasks_of(run_id: str) -> list[dict[str, Any]]:
    rows = WorkflowTask.objects.filter(run_id=run_id).values("key", "kind", "status", "owner", "deliveries")
    return [row async for row in rows]


async def until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "the condition was not met in time"
        await asyncio.sleep(0.02)


@pytest.fixture(autouse=True)
def fresh() -> Any:
    runtime.reset_storage()
    GATES.clear()
    CALLS.clear()
    yield
    runtime.reset_storage()


async def test_a_stopping_worker_commits_its_step_but_leaves_the_next_one_to_others() -> None:
    GATES["first"] = Gate()
    workflow = (
        create_workflow("drain-continuation")
        .then(create_step("first", execute=gated))
        .then(create_step("second", execute=counted))
        .commit()
    )
    engine = runtime.get_engine("evented")
    stopping = engine.embedded_worker()
    run = await workflow.acreate_run(engine="evented")
    await run.aenqueue({"n": 0})
    await asyncio.wait_for(GATES["first"].entered.wait(), 20)
    drained = asyncio.ensure_future(stopping.adrain(30.0))
    GATES["first"].release.set()
    await asyncio.wait_for(drained, 30)
    assert CALLS == {"first": 1}
    assert (await run.aresult()).steps["first"].status == "success"  # its outcome was committed
    (row,) = await tasks_of(run.run_id)  # the second step, left in the queue for another worker
    assert (row["kind"], row["status"], row["owner"], row["deliveries"]) == ("step", "queued", "", 0)
    other = Worker(engine, name="other", capacity=4)
    job = asyncio.ensure_future(other.arun(doorbell=False))
    try:
        assert await engine.await_settled(run.run_id) == "success"
    finally:
        job.cancel()
    assert CALLS == {"first": 1, "second": 1}
    assert (await run.aresult()).result == {"n": 2}


async def test_a_stopping_worker_hands_back_what_is_still_running_after_its_grace_period() -> None:
    GATES["stubborn"] = Gate()
    workflow = create_workflow("drain-handback").then(create_step("stubborn", execute=gated)).commit()
    engine = runtime.get_engine("evented")
    stopping = engine.embedded_worker()
    run = await workflow.acreate_run(engine="evented")
    await run.aenqueue({"n": 0})
    await asyncio.wait_for(GATES["stubborn"].entered.wait(), 20)
    await stopping.adrain(0.2)
    (row,) = await tasks_of(run.run_id)
    assert (row["status"], row["owner"], row["deliveries"]) == ("queued", "", 0)
    GATES["stubborn"].release.set()
    other = Worker(engine, name="other", capacity=4)
    job = asyncio.ensure_future(other.arun(doorbell=False))
    try:
        assert await engine.await_settled(run.run_id) == "success"
    finally:
        job.cancel()
    assert CALLS == {"stubborn": 2}
    assert await tasks_of(run.run_id) == []


async def test_callbacks_whose_workers_kept_dying_are_given_up_not_run_for_ever(
    caplog: pytest.LogCaptureFixture,
) -> None:
    finished: list[str] = []
    workflow = (
        create_workflow("callbacks-lost", on_finish=lambda info: finished.append(info.run_id))
        .then(create_step("only", execute=counted))
        .commit()
    )
    engine = runtime.get_engine("evented")
    storage = engine.storage
    limit = int(engine.options["max_deliveries"])

    async def settled_run(run_id: str, deliveries: int) -> None:
        """A settled run whose callbacks row was taken back from ``deliveries`` dead workers."""
        record = RunRecord(run_id=run_id, workflow_id=workflow.id, status="success", engine="evented")
        row = TaskRow(CALLBACKS, 1, CALLBACKS, engine.queue_of(workflow.id))
        await storage.atransact(run_id, lambda r: Change(run={}, tasks=[row]), create=record)
        await WorkflowTask.objects.filter(run_id=run_id).aupdate(deliveries=deliveries)

    await settled_run("cb-lost", limit + 1)
    await settled_run("cb-kept", limit)
    worker = Worker(engine, name="callbacks", capacity=4)
    job = asyncio.ensure_future(worker.arun(doorbell=False))
    try:
        with caplog.at_level(logging.ERROR):
            await until(lambda: _gone("cb-lost"))
            await until(lambda: _gone("cb-kept"))
    finally:
        job.cancel()
    assert finished == ["cb-kept"]
    assert "Giving up the callbacks of run cb-lost" in caplog.text


async def _gone(run_id: str) -> bool:
    return not await WorkflowTask.objects.filter(run_id=run_id).aexists()


async def test_a_worker_takes_only_work_of_the_workflows_it_serves() -> None:
    served = create_workflow("served-here").then(create_step("s", execute=counted)).commit()
    foreign = create_workflow("served-elsewhere").then(create_step("f", execute=counted)).commit()
    engine = runtime.get_engine("evented")
    worker = Worker(engine, name="only-some", capacity=4, workflows=[served.id])
    assert worker.queues == [engine.queue_of(served.id)]
    everything = Worker(engine, name="everything", capacity=4)
    assert {engine.queue_of(served.id), engine.queue_of(foreign.id)} <= set(everything.queues)
    runtime.unregister_workflow(foreign.id)  # a process whose WORKFLOWS do not have it
    try:
        assert engine.queue_of(foreign.id) not in everything.queues
    finally:
        runtime.register_workflow(foreign)
    # Rows of each workflow go to its own queue: the first worker never claims (or delays) the other's.
    storage = engine.storage
    for workflow in (served, foreign):
        record = RunRecord(run_id=f"run-{workflow.id}", workflow_id=workflow.id, status="running")
        row = TaskRow("k", 1, "step", engine.queue_of(workflow.id))
        await storage.atransact(record.run_id, lambda r, row=row: Change(run={}, tasks=[row]), create=record)
    claims = await storage.aclaim(worker.queues, worker.id, 10, 10_000)
    assert [claim.run_id for claim in claims] == ["run-served-here"]


@pytest.mark.timeout(60)
async def test_a_worker_of_the_evented_engine_leaves_a_long_default_engine_step_alone() -> None:
    """A ``workflows_worker`` sharing the database never takes back a default-engine step.

    The default engine's steps run in the process that started the run, on rows
    of that process's private queue; the evented worker sweeps every 50 ms
    while the step runs for more than two of its 0.3 s leases, renewed by its
    own worker, and must neither take it back nor run it a second time.
    """
    GATES["long"] = Gate()
    workflow = create_workflow("default-long-step").then(create_step("long", execute=gated)).commit()
    fast = {"lease_seconds": 0.3, "sweep_seconds": 0.05, "poll_seconds": 0.05}
    saved = runtime.get_engine_options()
    runtime.configure(
        engine_options={**saved, **{name: {**saved.get(name, {}), **fast} for name in ("default", "evented")}}
    )
    evented = runtime.get_engine("evented")
    sweeper = Worker(evented, name="workflows-worker", capacity=4)
    assert workflow.id in sweeper.serves()
    job = asyncio.ensure_future(sweeper.arun(doorbell=False))
    try:
        run = await workflow.acreate_run(engine="default")
        started = asyncio.ensure_future(run.astart({"n": 0}))
        await asyncio.wait_for(GATES["long"].entered.wait(), 20)
        (first,) = [row async for row in WorkflowTask.objects.filter(run_id=run.run_id).values()]
        assert first["lease_until"] is not None
        outlived = first["lease_until"] + 2 * int(fast["lease_seconds"] * 1000)

        async def outlived_two_leases() -> bool:
            row = await WorkflowTask.objects.filter(run_id=run.run_id).values().aget()
            # Held all along by the worker that claimed it: never taken back, never handed out again.
            assert (row["owner"], row["lease"], row["deliveries"]) == (first["owner"], first["lease"], 0)
            return row["lease_until"] is not None and row["lease_until"] >= outlived

        await until(outlived_two_leases)
        assert first["queue"] not in sweeper.queues
        GATES["long"].release.set()
        assert (await asyncio.wait_for(started, 20)).status == "success"
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)
        runtime.configure(engine_options=saved)
    assert CALLS == {"long": 1}
    assert GATES["long"].entries == 1
    assert (await run.aresult()).result == {"n": 1}


@pytest.mark.timeout(60)
async def test_work_that_failed_on_the_database_is_handed_back_not_held_for_its_lease() -> None:
    """A database error under a task (SQLite's "database table is locked") delays it, not for a lease.

    The lease here is ten minutes, so the run can only finish within the test's
    timeout if the worker handed the task back after the error.
    """
    armed: list[bool] = []

    async def once_then_fine(ctx: Any) -> Any:
        CALLS["flaky"] = CALLS.get("flaky", 0) + 1
        if CALLS["flaky"] == 1:
            armed.append(True)  # the commit of this first outcome fails
        return {"n": ctx.input_data["n"] + 1}

    def fail_once(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if armed and "INSERT" in sql.upper() and "workflows_app_workflowevent" in sql:
            armed.clear()
            raise OperationalError("database table is locked")
        return execute(sql, params, many, context)

    workflow = create_workflow("db-hiccup").then(create_step("flaky", execute=once_then_fine)).commit()
    saved = runtime.get_engine_options()
    runtime.configure(engine_options={**saved, "evented": {"lease_seconds": 600.0, "poll_seconds": 0.1}})
    wrapped = contextlib.ExitStack()
    # On the thread that runs this loop's database calls: the worker's, here.
    await sync_to_async(lambda: wrapped.enter_context(connection.execute_wrapper(fail_once)))()
    engine = runtime.get_engine("evented")
    worker = Worker(engine, name="hiccup", capacity=1)
    job = asyncio.ensure_future(worker.arun(doorbell=False))
    try:
        run = await workflow.acreate_run(engine="evented")
        await run.aenqueue({"n": 0})
        assert await engine.await_settled(run.run_id) == "success"
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)
        await sync_to_async(wrapped.close)()
        runtime.configure(engine_options=saved)
    assert CALLS["flaky"] == 2
    assert (await run.aresult()).result == {"n": 1}
