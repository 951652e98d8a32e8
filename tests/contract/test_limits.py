"""Beyond the spec: concurrency and rate limits (issue 14, item 4), on every engine.

A workflow's ``Limit`` counts its runs from start to end, per key: a suspended run
keeps its slot, which lets these tests hold a slot as long as they like without
timing anything. Runs over the limit stay ``pending`` and start in the order they
were started. A step's ``Limit`` and ``Rate`` hold across runs: what the steps
record (start and end, in one list every process reaches) must never show more
executions inside at once than the limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from workflows_app import Limit, Rate, Workflow, create_step, create_workflow, errors
from workflows_app.core import runtime
from workflows_app.models import LimitStart, WorkflowEvent, WorkflowRun, WorkflowTask

from .conftest import Harness
from .processes import shared_list


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "the condition was not met in time"
        await asyncio.sleep(0.02)


async def status(run_id: str) -> str:
    return str((await WorkflowRun.objects.aget(pk=run_id)).status)


def most_inside(log: list[Any]) -> int:
    """The most executions between their start and their end at any point of ``log``."""
    inside = peak = 0
    for mark, *_ in log:
        inside += 1 if mark == "start" else -1
        peak = max(peak, inside)
    return peak


def recording(step_id: str, log: list[Any], **limits: Any) -> Any:
    async def execute(ctx: Any) -> Any:
        log.append(("start", ctx.run_id))
        await asyncio.sleep(0.01)  # the step's work: long enough for others to try to start
        log.append(("end", ctx.run_id))
        return ctx.input_data

    return create_step(step_id, execute=execute, **limits)


def one_customer_at_a_time(name: str, log: list[Any]) -> Workflow:
    """Each run records its start and suspends: a suspended run keeps its slot."""

    async def hold(ctx: Any) -> Any:
        if ctx.resume_data is None:
            log.append(ctx.input_data["n"])
            return await ctx.suspend({})
        return ctx.input_data

    limit = Limit(1, key=lambda data: data["customer"])
    return create_workflow(name, concurrency=limit).then(create_step("hold", execute=hold)).commit()


async def enqueue(workflow: Workflow, engine: str, data: Any) -> str:
    run = await workflow.acreate_run(engine=engine)
    return await run.aenqueue(data)


async def test_runs_over_a_workflow_limit_stay_pending_and_start_first_in_first_out(
    harness: Harness,
) -> None:
    started = shared_list()
    workflow = one_customer_at_a_time("limit-fifo", started)
    first = await enqueue(workflow, harness.engine, {"customer": "a", "n": 1})
    await until(lambda: _is(first, "suspended"))
    waiting = [await enqueue(workflow, harness.engine, {"customer": "a", "n": n}) for n in (2, 3, 4)]
    other = await enqueue(workflow, harness.engine, {"customer": "b", "n": 9})
    await until(lambda: _is(other, "suspended"))  # another key has its own slot
    assert [await status(run_id) for run_id in waiting] == ["pending"] * 3
    kinds = [e.type async for e in WorkflowEvent.objects.filter(run_id=waiting[0]).order_by("seq")]
    assert kinds == ["workflow-limit-waiting"]
    for done, following in zip([first, *waiting], [*waiting, None], strict=True):
        await harness.resume(workflow, done, {})
        assert await status(done) == "success"
        if following is not None:
            await until(lambda run_id=following: _is(run_id, "suspended"))  # type: ignore[misc]
    assert list(started) == [1, 9, 2, 3, 4]


async def _is(run_id: str, expected: str) -> bool:
    return await status(run_id) == expected


async def test_a_pending_run_can_be_canceled_and_gives_its_place_to_the_next(harness: Harness) -> None:
    started = shared_list()
    workflow = one_customer_at_a_time("limit-cancel", started)
    first = await enqueue(workflow, harness.engine, {"customer": "a", "n": 1})
    await until(lambda: _is(first, "suspended"))
    second = await enqueue(workflow, harness.engine, {"customer": "a", "n": 2})
    third = await enqueue(workflow, harness.engine, {"customer": "a", "n": 3})
    run = await workflow.acreate_run(run_id=second, engine=harness.engine)
    await run.acancel()
    assert await status(second) == "canceled"
    assert not await WorkflowTask.objects.filter(run_id=second).aexists()
    await harness.resume(workflow, first, {})
    await until(lambda: _is(third, "suspended"))
    assert list(started) == [1, 3]


async def test_a_key_function_that_raises_is_a_clear_error_and_stores_nothing(harness: Harness) -> None:
    workflow = (
        create_workflow("limit-bad-key", concurrency=Limit(2, key=lambda data: data["customer"]))
        .then(recording("noop", shared_list()))
        .commit()
    )
    run = await workflow.acreate_run(engine=harness.engine)
    with pytest.raises(errors.LimitKeyError, match=r"limit-bad-key.*KeyError"):
        await run.astart({"order": 1})
    assert not await WorkflowRun.objects.filter(pk=run.run_id).aexists()


async def test_a_step_limit_holds_across_runs_and_items(harness: Harness) -> None:
    log = shared_list()
    step = recording("limited", log, concurrency=Limit(2))
    workflow = create_workflow("limit-step").foreach(step, concurrency=4).commit()
    results = await asyncio.gather(*(harness.start(workflow, list(range(4))) for _ in range(3)))
    assert [result.status for result in results] == ["success"] * 3
    assert len(log) == 24
    assert most_inside(log) <= 2


async def test_a_rate_holds_back_starts_beyond_it_until_its_window_passes(harness: Harness) -> None:
    log = shared_list()
    step = recording("rated", log, rate=Rate(2, per=3600.0))
    workflow = create_workflow("limit-rate").foreach(step, concurrency=3).commit()
    run_id = await enqueue(workflow, harness.engine, [1, 2, 3])

    async def two_done_one_waiting() -> bool:
        rows = [row async for row in WorkflowTask.objects.filter(run_id=run_id, kind="step")]
        return len(log) == 4 and len(rows) == 1 and rows[0].status == "queued"

    await until(two_done_one_waiting)
    row = await WorkflowTask.objects.aget(run_id=run_id, kind="step")
    assert row.limit_key == "step:rated"
    assert await runtime.get_storage().aclaim([row.queue], "probe", 10, 1000) == []
    await LimitStart.objects.filter(key="step:rated").aupdate(until=0)  # the hour has passed
    await until(lambda: _is(run_id, "success"))
    assert len(log) == 6


def test_invalid_limits_are_refused_when_defined() -> None:
    async def noop(ctx: Any) -> Any:
        return None

    for bad in (lambda: Limit(0), lambda: Limit(1.5), lambda: Limit(True)):  # type: ignore[arg-type]
        with pytest.raises(errors.WorkflowDefinitionError, match="Limit: n must be an int >= 1"):
            bad()
    for bad in (lambda: Rate(0), lambda: Rate(1, per=0), lambda: Rate(1, per=-1.0)):
        with pytest.raises(errors.WorkflowDefinitionError, match="Rate: "):
            bad()
    with pytest.raises(errors.WorkflowDefinitionError, match="takes no key"):
        create_step("keyed", execute=noop, concurrency=Limit(1, key=lambda data: data))
    with pytest.raises(errors.WorkflowDefinitionError, match="concurrency takes a Limit"):
        create_workflow("limit-int", concurrency=3)  # type: ignore[arg-type]
