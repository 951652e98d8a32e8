"""retryCount and runCount (spec: run-count #1-#2).

Our context splits what Mastra's ``retryCount`` conflates: ``retry_count`` counts
retries of one execution, ``run_count`` earlier executions of the step in the run
(as in loops); both are 0 on a step's first execution.
"""

from __future__ import annotations

from typing import Any

from workflows_app import create_step, create_workflow

from .conftest import Calls, Harness
from .processes import shared_list
from .shapes import Count


async def test_retry_count_should_exist_and_equal_zero_for_the_first_run(
    harness: Harness, calls: Calls
) -> None:
    """run-count #1: retryCount should exist and equal zero for the first run."""
    seen: dict[str, list[tuple[int, int]]] = {"step1": shared_list(), "step2": shared_list()}

    def counting(step_id: str) -> Any:
        async def execute(ctx: Any) -> Any:
            calls.hit(step_id)
            seen[step_id].append((ctx.retry_count, ctx.run_count))
            return {"count": ctx.retry_count}

        return execute

    step1 = create_step("step1", execute=counting("step1"))
    step2 = create_step("step2", execute=counting("step2"), input_schema=Count)
    workflow = create_workflow("run-count-basic-workflow").then(step1).then(step2).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert (calls["step1"], calls["step2"]) == (1, 1)
    assert seen == {"step1": [(0, 0)], "step2": [(0, 0)]}
    assert result.steps["step2"].output == {"count": 0}


async def test_multiple_steps_should_have_different_run_counts_in_loops(harness: Harness) -> None:
    """run-count #2: multiple steps should have different run counts in loops."""
    run_counts: dict[str, list[int]] = {"step1": shared_list(), "step2": shared_list()}

    def incrementing(step_id: str) -> Any:
        async def execute(ctx: Any) -> Any:
            run_counts[step_id].append(ctx.run_count)
            return {"count": ctx.input_data["count"] + 1}

        return execute

    step1 = create_step("step1", execute=incrementing("step1"), input_schema=Count, output_schema=Count)
    step2 = create_step("step2", execute=incrementing("step2"), input_schema=Count, output_schema=Count)
    workflow = (
        create_workflow("run-count-loop-workflow", input_schema=Count)
        .dowhile(step1, lambda ctx: ctx.input_data["count"] < 3)
        .dountil(step2, lambda ctx: ctx.input_data["count"] == 10)
        .commit()
    )
    result = await harness.execute(workflow, {"count": 0})
    assert result.status == "success"
    assert result.steps["step1"].output == {"count": 3}
    assert result.steps["step2"].output == {"count": 10}
    assert run_counts == {"step1": [0, 1, 2], "step2": [0, 1, 2, 3, 4, 5, 6]}
