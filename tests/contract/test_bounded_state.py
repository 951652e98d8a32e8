"""The stored run state does not grow with a foreach or a loop (ARCHITECTURE §4, issue 11).

Item outputs, a foreach's items and a loop's outputs live in step rows; the run
state only names them. So the state stored while the last item of a long foreach
(or the last iteration of a long loop) is suspended is about as big as after a
short one, and resuming still gives every output, in order. The sizes here
(2,000 items, 1,000 iterations) keep the suite quick; ``bench/state_size.py``
measures 10,000 of each.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from workflows_app import StepContext, Workflow, create_step, create_workflow
from workflows_app.core import runtime

from .conftest import Harness

SMALL, FOREACH_LARGE, LOOP_LARGE = 10, 2_000, 1_000
SLACK = 1_024  # bytes: bigger numbers (counters, indices) are longer, nothing else may grow


def foreach_workflow(size: int) -> Workflow:
    """A step makes ``size`` numbers; the foreach adds one to each, and its last item suspends."""

    async def make(ctx: StepContext) -> list[int]:
        return list(range(ctx.input_data["n"]))

    async def item(ctx: StepContext) -> int:
        if ctx.input_data == size - 1 and ctx.resume_data is None:
            return await ctx.suspend({"last": ctx.input_data})
        return int(ctx.input_data) + 1

    return (
        create_workflow(f"bounded-foreach-{size}")
        .then(create_step("make", execute=make))
        .foreach(create_step("item", execute=item), concurrency=20)
        .commit()
    )


def loop_workflow(size: int) -> Workflow:
    """A dowhile counts to ``size``; its last iteration suspends."""

    async def tick(ctx: StepContext) -> dict[str, int]:
        n = ctx.input_data["n"] + 1
        if n == size and ctx.resume_data is None:
            return await ctx.suspend({"at": n})
        return {"n": n}

    async def more(ctx: StepContext) -> bool:
        return bool(ctx.input_data["n"] < size)

    return create_workflow(f"bounded-loop-{size}").dowhile(create_step("tick", execute=tick), more).commit()


async def suspended_state_size(harness: Harness, workflow: Workflow, data: Any) -> tuple[str, int]:
    """Start the run; once it suspends, the size of its stored run state as JSON."""
    result = await harness.start(workflow, data)
    assert result.status == "suspended"
    record = await runtime.get_storage().aget_run(result.run_id)
    assert record is not None
    return result.run_id, len(json.dumps(record.run_state, separators=(",", ":")))


@pytest.mark.timeout(600)  # thousands of items through worker processes: minutes on a loaded machine
async def test_the_state_after_a_long_foreach_is_as_small_as_after_a_short_one(harness: Harness) -> None:
    _, small = await suspended_state_size(harness, foreach_workflow(SMALL), {"n": SMALL})
    workflow = foreach_workflow(FOREACH_LARGE)
    run_id, large = await suspended_state_size(harness, workflow, {"n": FOREACH_LARGE})
    assert large < small + SLACK, (small, large)
    result = await harness.resume(workflow, run_id, {"go": True}, step="item")
    assert result.status == "success"
    assert result.result == list(range(1, FOREACH_LARGE + 1))
    assert result.steps["item"].output == result.result


@pytest.mark.timeout(600)
async def test_the_state_after_a_long_loop_is_as_small_as_after_a_short_one(harness: Harness) -> None:
    _, small = await suspended_state_size(harness, loop_workflow(SMALL), {"n": 0})
    workflow = loop_workflow(LOOP_LARGE)
    run_id, large = await suspended_state_size(harness, workflow, {"n": 0})
    assert large < small + SLACK, (small, large)
    result = await harness.resume(workflow, run_id, {"go": True}, step="tick")
    assert result.status == "success"
    assert result.result == {"n": LOOP_LARGE}
