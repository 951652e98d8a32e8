"""Beyond the spec: a run started inside the caller's transaction (issue 14, item 5).

``run.enqueue()`` writes the run and the work it owes on the caller's connection,
in the caller's ``transaction.atomic()``: a rollback leaves no trace, and workers
take the run only once the transaction commits. Every test runs on both engines,
with steps in forked worker processes on the PostgreSQL + Redis leg.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import OperationalError, connection, transaction
from pydantic import BaseModel

from workflows_app import Workflow, create_step, create_workflow, errors
from workflows_app.core import runtime
from workflows_app.models import WorkflowEvent, WorkflowRun, WorkflowTask
from workflows_app.storage import DjangoStorage

from .conftest import Calls, Harness


class Order(BaseModel):
    order: str


class OrderRejectedError(Exception):
    """Raised inside the atomic block to roll it back."""


def shipping(calls: Calls, name: str) -> Workflow:
    async def ship(ctx: Any) -> Any:
        calls.hit("ship", ctx.input_data)
        return {"shipped": ctx.input_data["order"]}

    return create_workflow(name).then(create_step("ship", execute=ship)).commit()


def _seen_elsewhere(run_id: str) -> bool:
    """Whether another connection (another thread, as a worker's) can read the run now.

    On PostgreSQL it reads no row until the commit; on the test suite's in-memory
    SQLite (shared cache) the writing transaction locks the table against it.
    """
    seen: list[bool] = []

    def look() -> None:
        try:
            seen.append(DjangoStorage().get_run(run_id) is not None)
        except OperationalError as exc:
            assert "locked" in str(exc)
            seen.append(False)
        finally:
            connection.close()

    reader = threading.Thread(target=look)
    reader.start()
    reader.join()
    return seen[0]


async def test_a_run_enqueued_in_a_transaction_that_commits_runs_once_committed(
    harness: Harness, calls: Calls
) -> None:
    workflow = shipping(calls, "tx-commits")
    run = await workflow.acreate_run(engine=harness.engine)
    await run.engine.aready()  # a worker serving the workflow is running

    def view() -> bool:
        with transaction.atomic():
            User.objects.create(username="order-1")
            run.enqueue({"order": "order-1"})
            return _seen_elsewhere(run.run_id)

    seen_before_commit = await sync_to_async(view)()
    assert not seen_before_commit
    assert await run.engine.await_settled(run.run_id) == "success"
    result = await run.aresult()
    assert result.result == {"shipped": "order-1"}
    assert calls["ship"] == 1
    assert await User.objects.filter(username="order-1").aexists()


async def test_a_run_enqueued_in_a_transaction_that_rolls_back_leaves_no_trace(
    harness: Harness, calls: Calls
) -> None:
    workflow = shipping(calls, "tx-rolls-back")
    run = await workflow.acreate_run(engine=harness.engine)
    await run.engine.aready()

    def view() -> None:
        with transaction.atomic():
            User.objects.create(username="order-2")
            run.enqueue({"order": "order-2"})
            raise OrderRejectedError

    with pytest.raises(OrderRejectedError):
        await sync_to_async(view)()
    assert await runtime.get_storage().aget_run(run.run_id) is None
    assert not await WorkflowRun.objects.filter(run_id=run.run_id).aexists()
    assert not await WorkflowEvent.objects.filter(run_id=run.run_id).aexists()
    assert not await WorkflowTask.objects.filter(run_id=run.run_id).aexists()
    assert not await User.objects.filter(username="order-2").aexists()
    # The queue is empty: a run started after it settles, and the rolled-back one never ran.
    other = await workflow.acreate_run(engine=harness.engine)
    assert (await other.astart({"order": "order-3"})).status == "success"
    assert calls.inputs["ship"] == [{"order": "order-3"}]


async def test_enqueue_checks_the_input_before_anything_is_written(harness: Harness) -> None:
    workflow = (
        create_workflow("tx-validates", input_schema=Order, validate_inputs=True)
        .then(create_step("noop", execute=lambda ctx: {}))
        .commit()
    )
    run = await workflow.acreate_run(engine=harness.engine)

    def view() -> None:
        with transaction.atomic():
            run.enqueue({})

    with pytest.raises(errors.InputValidationError):
        await sync_to_async(view)()
    assert not await WorkflowRun.objects.filter(run_id=run.run_id).aexists()
