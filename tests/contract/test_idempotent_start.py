"""Beyond the spec: starts made idempotent by a key (issue 14, item 5).

``acreate_run(idempotency_key=)``: every caller with the same key gets the same
run, started once, however they race; the same key with other input is refused.
Every test runs on both engines, with steps in forked worker processes on the
PostgreSQL + Redis leg.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connection, transaction

from workflows_app import Workflow, create_step, create_workflow, errors
from workflows_app.models import WorkflowRun

from .conftest import Calls, Harness


def charging(calls: Calls, name: str) -> Workflow:
    async def charge(ctx: Any) -> Any:
        calls.hit("charge", ctx.input_data)
        return {"charged": ctx.input_data["amount"]}

    return create_workflow(name).then(create_step("charge", execute=charge)).commit()


async def test_the_same_key_gives_the_same_run_started_once(harness: Harness, calls: Calls) -> None:
    workflow = charging(calls, "idem-same")
    first = await workflow.acreate_run(engine=harness.engine, idempotency_key="order-42")
    result = await first.astart({"amount": 5})
    again = await workflow.acreate_run(engine=harness.engine, idempotency_key="order-42")
    assert again.run_id == first.run_id
    assert again.status == "success"
    assert (await again.astart({"amount": 5})).result == result.result == {"charged": 5}
    assert await again.aenqueue({"amount": 5}) == first.run_id
    assert calls["charge"] == 1
    assert await WorkflowRun.objects.filter(workflow_id="idem-same").acount() == 1


async def test_racing_starts_with_one_key_make_one_run(harness: Harness, calls: Calls) -> None:
    workflow = charging(calls, "idem-race")
    # Workers first: the forked workers of the PostgreSQL leg start once, not once per racer.
    await (await workflow.acreate_run(engine=harness.engine)).engine.aready()

    async def start() -> str:
        run = await workflow.acreate_run(engine=harness.engine, idempotency_key="race")
        return await run.aenqueue({"amount": 7})

    ids = await asyncio.gather(*(start() for _ in range(4)))
    assert len(set(ids)) == 1
    run = await workflow.acreate_run(run_id=ids[0], engine=harness.engine)
    assert await run.engine.await_settled(run.run_id) == "success"
    assert calls["charge"] == 1
    assert await WorkflowRun.objects.filter(workflow_id="idem-race").acount() == 1


async def test_racing_threads_with_one_key_make_one_run(harness: Harness, calls: Calls) -> None:
    """Separate threads, so separate database connections: the database decides who created it.

    Each thread retries its transaction while the table is locked, as an application
    on the suite's in-memory SQLite must (it has no busy wait between connections);
    on PostgreSQL the inserts race on the primary key.
    """
    workflow = charging(calls, "idem-threads")
    first = await workflow.acreate_run(engine=harness.engine)
    await first.engine.aready()

    def start() -> str:
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    with transaction.atomic():
                        run = workflow.create_run(engine=harness.engine, idempotency_key="threads")
                        return run.enqueue({"amount": 9})
                except OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
        finally:
            connection.close()

    ids = await asyncio.gather(*(sync_to_async(start, thread_sensitive=False)() for _ in range(4)))
    assert len(set(ids)) == 1
    assert await first.engine.await_settled(ids[0]) == "success"
    assert calls["charge"] == 1


async def test_the_same_key_with_other_input_is_refused(harness: Harness, calls: Calls) -> None:
    workflow = charging(calls, "idem-conflict")
    run = await workflow.acreate_run(engine=harness.engine, idempotency_key="k")
    await run.astart({"amount": 1})
    other = await workflow.acreate_run(engine=harness.engine, idempotency_key="k")
    with pytest.raises(errors.IdempotencyConflictError, match="other input"):
        await other.aenqueue({"amount": 2})
    assert calls["charge"] == 1


async def test_a_key_is_a_short_non_empty_string(harness: Harness) -> None:
    workflow = charging(Calls(), "idem-bad-key")
    for key in ("", "x" * 256):
        with pytest.raises(errors.WorkflowError, match="idempotency key"):
            await workflow.acreate_run(engine=harness.engine, idempotency_key=key)
    with pytest.raises(errors.WorkflowError, match="not both"):
        await workflow.acreate_run(run_id="r1", engine=harness.engine, idempotency_key="k")
