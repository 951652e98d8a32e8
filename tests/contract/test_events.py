"""Events: a step suspends on an event (name, key) or with a timeout, and resumes when it comes.

Runs on both engines and both backends, like the rest of the contract suite. A
run that a send, a kept event or a timeout resumes moves on without its caller,
so the tests wait for the status they expect by polling the stored run under a
deadline.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

import workflows_app
from workflows_app import Run, create_step, create_workflow, errors

from .conftest import Calls, Harness

DEADLINE_SECONDS = 60.0


class Payment(BaseModel):
    amount: int


async def until_status(run: Run, *statuses: str) -> str:
    """Poll the stored run until its status is one of ``statuses``, under a deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        record = await run.arefresh()
        if record is not None and record.status in statuses:
            if record.status not in ("running", "pending"):
                await run.engine.await_settled(run.run_id)  # its callbacks ran, if it has any
            return record.status
        assert time.monotonic() < deadline, f"run {run.run_id} is still {record and record.status}"
        await asyncio.sleep(0.02)


def awaiting_payment(calls: Calls, *, timeout: Any = None, with_key: bool = True) -> Any:
    """Waits for ``payment-received`` keyed by the order, then returns what it got."""

    async def execute(ctx: Any) -> Any:
        calls.hit("await-payment", ctx.resume_data)
        if ctx.resume_data is None and not ctx.timed_out:
            key = ctx.input_data["order"] if with_key else None
            return await ctx.suspend(
                {"order": ctx.input_data["order"]}, event="payment-received", key=key, timeout=timeout
            )
        return {"paid": ctx.resume_data, "timed_out": ctx.timed_out}

    return create_step("await-payment", execute=execute, resume_schema=Payment)


def payment_workflow(calls: Calls, name: str, **options: Any) -> Any:
    return create_workflow(f"{name}-{uuid.uuid4().hex[:8]}").then(awaiting_payment(calls, **options)).commit()


async def started(harness: Harness, workflow: Any, order: str, *, waits: bool = True) -> Run:
    """A run of ``workflow`` started and, with ``waits``, suspended on its event.

    A run with a short timeout may already have moved on when ``astart`` reads
    its result: those tests pass ``waits=False`` and poll for what follows.
    """
    run = await workflow.acreate_run(engine=harness.engine)
    result = await run.astart({"order": order})
    harness.settled()
    if waits:
        assert result.status == "suspended", result
    return run


async def test_an_event_sent_to_a_run_resumes_its_waiting_step(harness: Harness, calls: Calls) -> None:
    workflow = payment_workflow(calls, "pay")
    run = await started(harness, workflow, "o-1")
    assert await run.asend_event("payment-received", {"amount": 42}) is True
    assert await until_status(run, "success") == "success"
    result = await run.aresult()
    assert result.result == {"paid": {"amount": 42}, "timed_out": False}
    assert result.steps["await-payment"].resume_payload == {"amount": 42}
    types = [event["type"] for event in await run.storage.aread_events(run.run_id)]
    assert types.index("workflow-step-suspended") < types.index("workflow-step-event-waiting")
    assert types.index("workflow-step-event-received") < types.index("workflow-finish")
    assert calls["await-payment"] == 2


async def test_waiting_and_received_events_carry_the_event(harness: Harness, calls: Calls) -> None:
    workflow = payment_workflow(calls, "pay-events")
    run = await started(harness, workflow, "o-2")
    await run.asend_event("payment-received", {"amount": 1})
    await until_status(run, "success")
    log = {event["type"]: event["payload"] for event in await run.storage.aread_events(run.run_id)}
    waiting = log["workflow-step-event-waiting"]
    assert waiting == {"id": "await-payment", "event": "payment-received", "key": "o-2", "timeout_at": None}
    received = log["workflow-step-event-received"]
    assert {k: received[k] for k in ("id", "event", "key")} == {
        "id": "await-payment",
        "event": "payment-received",
        "key": "o-2",
    }
    assert isinstance(received["event_id"], int)


async def test_send_by_name_and_key_resumes_every_run_waiting_on_them(harness: Harness, calls: Calls) -> None:
    workflow = payment_workflow(calls, "fanout")
    first, second = await started(harness, workflow, "o-7"), await started(harness, workflow, "o-7")
    other = await started(harness, workflow, "o-8")
    resumed = await workflows_app.asend_event("payment-received", {"amount": 7}, key="o-7")
    assert sorted(resumed) == sorted([first.run_id, second.run_id])
    for run in (first, second):
        assert await until_status(run, "success") == "success"
        assert (await run.aresult()).result == {"paid": {"amount": 7}, "timed_out": False}
    assert (await other.arefresh()).status == "suspended"  # type: ignore[union-attr]


async def test_an_event_sent_to_a_run_before_it_waits_is_kept_and_delivered(
    harness: Harness, calls: Calls
) -> None:
    async def first(ctx: Any) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({"ready": False})
        return {"order": "o-3"}

    gate = create_step("gate", execute=first)
    workflow = (
        create_workflow(f"kept-{uuid.uuid4().hex[:8]}").then(gate).then(awaiting_payment(calls)).commit()
    )
    run = await workflow.acreate_run(engine=harness.engine)
    assert (await run.astart({"order": "o-3"})).status == "suspended"
    assert await run.asend_event("payment-received", {"amount": 3}) is False  # nobody waits yet: kept
    await run.aresume({}, step="gate")
    assert await until_status(run, "success") == "success"
    assert (await run.aresult()).result == {"paid": {"amount": 3}, "timed_out": False}


async def test_an_event_sent_by_key_before_any_run_waits_goes_to_the_first_that_does(
    harness: Harness, calls: Calls
) -> None:
    workflow = payment_workflow(calls, "early")
    order = f"o-{uuid.uuid4().hex[:8]}"
    assert await workflows_app.asend_event("payment-received", {"amount": 9}, key=order) == []
    first = await workflow.acreate_run(engine=harness.engine)
    await first.astart({"order": order})
    assert await until_status(first, "success") == "success"
    assert (await first.aresult()).result == {"paid": {"amount": 9}, "timed_out": False}
    second = await started(harness, workflow, order)  # the kept event was taken: this one waits
    assert (await second.arefresh()).status == "suspended"  # type: ignore[union-attr]


async def test_a_timeout_runs_the_step_again_with_timed_out(harness: Harness, calls: Calls) -> None:
    workflow = payment_workflow(calls, "timeout", timeout=timedelta(milliseconds=50))
    run = await started(harness, workflow, "o-4", waits=False)
    assert await until_status(run, "success") == "success"
    result = await run.aresult()
    assert result.result == {"paid": None, "timed_out": True}
    types = [event["type"] for event in await run.storage.aread_events(run.run_id)]
    assert "workflow-step-timed-out" in types
    assert "workflow-step-event-received" not in types


async def test_a_timeout_works_on_a_suspend_without_an_event(harness: Harness, calls: Calls) -> None:
    async def execute(ctx: Any) -> Any:
        calls.hit("nap", ctx.resume_data)
        if not ctx.timed_out:
            return await ctx.suspend({"why": "nap"}, timeout=0.05)
        return {"resume_data": ctx.resume_data, "timed_out": ctx.timed_out}

    workflow = (
        create_workflow(f"nap-{uuid.uuid4().hex[:8]}").then(create_step("nap", execute=execute)).commit()
    )
    run = await workflow.acreate_run(engine=harness.engine)
    await run.astart({})  # suspended, or already timed out under load
    assert await until_status(run, "success") == "success"
    assert (await run.aresult()).result == {"resume_data": None, "timed_out": True}
    assert calls["nap"] == 2


async def test_an_event_before_the_timeout_wins_and_the_timeout_does_nothing(
    harness: Harness, calls: Calls
) -> None:
    workflow = payment_workflow(calls, "beats-timeout", timeout=3600)
    run = await started(harness, workflow, "o-5")
    await run.asend_event("payment-received", {"amount": 5})
    assert await until_status(run, "success") == "success"
    assert (await run.aresult()).result == {"paid": {"amount": 5}, "timed_out": False}
    assert calls["await-payment"] == 2


async def test_event_data_is_validated_by_the_resume_schema(harness: Harness, calls: Calls) -> None:
    workflow = payment_workflow(calls, "invalid")
    run = await started(harness, workflow, "o-6")
    with pytest.raises(errors.ResumeDataValidationError, match="Invalid resume data"):
        await run.asend_event("payment-received", {"amount": "lots"})
    with pytest.raises(errors.ResumeDataValidationError, match="Invalid resume data"):
        await workflows_app.asend_event("payment-received", {"amount": "lots"}, key="o-6")
    assert (await run.arefresh()).status == "suspended"  # type: ignore[union-attr]
    assert calls["await-payment"] == 1


async def test_bad_event_names_and_keys_are_refused_at_once(harness: Harness, calls: Calls) -> None:
    workflow = payment_workflow(calls, "bad-name")
    run = await started(harness, workflow, "o-9")
    with pytest.raises(errors.EventError):
        await run.asend_event("", {"amount": 1})
    with pytest.raises(errors.EventError):
        await workflows_app.asend_event("payment-received", {"amount": 1}, key=42)  # type: ignore[arg-type]


async def test_suspend_with_a_bad_event_or_timeout_fails_the_step(harness: Harness) -> None:
    async def execute(ctx: Any) -> Any:
        return await ctx.suspend(event="", timeout=-1)

    workflow = create_workflow(f"bad-suspend-{uuid.uuid4().hex[:8]}").then(create_step("s", execute=execute))
    result = await harness.start(workflow.commit(), {})
    assert result.status == "failed"
    error = result.steps["s"].error
    assert getattr(error, "name", type(error).__name__) == "EventError"
    assert "non-empty event name" in str(error)


async def test_a_run_that_ended_takes_no_events(harness: Harness, calls: Calls) -> None:
    workflow = payment_workflow(calls, "ended")
    run = await started(harness, workflow, "o-10")
    await run.asend_event("payment-received", {"amount": 1})
    await until_status(run, "success")
    with pytest.raises(errors.RunNotActiveError):
        await run.asend_event("payment-received", {"amount": 2})


async def test_racing_senders_resume_each_waiting_run_exactly_once(harness: Harness, calls: Calls) -> None:
    workflow = payment_workflow(calls, "race")
    order = f"o-{uuid.uuid4().hex[:8]}"
    runs = [await started(harness, workflow, order) for _ in range(3)]
    sent = await asyncio.gather(
        *(workflows_app.asend_event("payment-received", {"amount": n}, key=order) for n in range(6))
    )
    for run in runs:
        assert await until_status(run, "success") == "success"
    resumed = [run_id for run_ids in sent for run_id in run_ids]
    assert sorted(resumed) == sorted(run.run_id for run in runs)  # each run by exactly one sender
    assert calls["await-payment"] == 2 * len(runs)  # suspended once, resumed once, each
    for run in runs:
        log = await run.storage.aread_events(run.run_id)
        assert [event["type"] for event in log].count("workflow-step-event-received") == 1


def test_the_wait_for_event_builder_stays_removed() -> None:
    with pytest.raises(errors.WorkflowDefinitionError, match="waitForEvent has been removed"):
        create_workflow("no-wait-for-event").wait_for_event("hello", create_step("s", execute=lambda ctx: 1))


async def test_a_kept_event_goes_to_exactly_one_of_the_runs_that_suspend_on_it_together(
    harness: Harness, calls: Calls
) -> None:
    workflow = payment_workflow(calls, "one-taker")
    order = f"o-{uuid.uuid4().hex[:8]}"
    assert await workflows_app.asend_event("payment-received", {"amount": 11}, key=order) == []
    runs = [await workflow.acreate_run(engine=harness.engine) for _ in range(3)]
    await asyncio.gather(*(run.astart({"order": order}) for run in runs))
    for run in runs:  # every look for kept events is done, so no run can still take it
        await until_status(run, "success", "suspended")
        await until_owes_nothing(run)
    statuses = [(await run.arefresh()).status for run in runs]  # type: ignore[union-attr]
    assert sorted(statuses) == ["success", "suspended", "suspended"]


async def until_owes_nothing(run: Run) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while await run.storage.aowes(run.run_id, ("match",)):
        assert time.monotonic() < deadline, f"run {run.run_id} still owes a look for kept events"
        await asyncio.sleep(0.02)
    await run.engine.await_settled(run.run_id)
