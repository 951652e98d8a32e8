"""Time travel: running a workflow again from a chosen step (spec: time-travel #7-#21).

The sleep tests (#1-#6) live in test_sleep.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from workflows_app import create_step, create_workflow, errors
from workflows_app.testing import awaituntil

from .conftest import Calls, Harness
from .processes import shared_list


def counted(calls: Calls, step_id: str, fn: Any, **options: Any) -> Any:
    async def execute(ctx: Any) -> Any:
        calls.hit(step_id, ctx.input_data)
        return fn(ctx.input_data)

    return create_step(step_id, execute=execute, **options)


def chain(calls: Calls, workflow_id: str, **options: Any) -> tuple[Any, Any, Any, Any]:
    step1 = counted(calls, "step1", lambda d: {"step1Result": 2})
    step2 = counted(calls, "step2", lambda d: {"step2Result": d["step1Result"] + 1})
    step3 = counted(calls, "step3", lambda d: {"final": d["step2Result"] + 1})
    workflow = create_workflow(workflow_id, **options).then(step1).then(step2).then(step3).commit()
    return workflow, step1, step2, step3


async def travel(
    harness: Harness, workflow: Any, step: Any, run_id: str | None = None, **options: Any
) -> Any:
    run = await workflow.acreate_run(run_id=run_id, engine=harness.engine)
    return await run.atime_travel(step, **options)


STEP1_CONTEXT = {
    "step1": {
        "status": "success",
        "payload": {"value": 0},
        "output": {"step1Result": 2},
        "started_at": 1,
        "ended_at": 2,
    }
}


async def test_should_time_travel_a_workflow_execution(harness: Harness, calls: Calls) -> None:
    """time-travel #7: should timeTravel a workflow execution."""
    workflow, _, step2, _ = chain(calls, "tt-basic-workflow")
    result = await travel(harness, workflow, step2, context=STEP1_CONTEXT)
    assert result.status == "success"
    assert (calls["step1"], calls["step2"], calls["step3"]) == (0, 1, 1)
    assert result.result == {"final": 4}


async def test_should_time_travel_workflow_execution_for_workflow_with_parallel_steps(
    harness: Harness, calls: Calls
) -> None:
    """time-travel #8: should timeTravel workflow execution for workflow with parallel steps."""
    step1 = counted(calls, "step1", lambda d: {"value": "step1"})
    step2 = counted(calls, "step2", lambda d: {"value": "step2"})
    final = counted(calls, "final", lambda d: {"combined": f"{d['step1']['value']}-{d['step2']['value']}"})
    workflow = create_workflow("tt-parallel-workflow").parallel([step1, step2]).then(final).commit()
    context = {"step1": {"output": {"value": "pre-step1"}}, "step2": {"output": {"value": "pre-step2"}}}
    result = await travel(harness, workflow, final, context=context)
    assert result.status == "success"
    assert (calls["step1"], calls["step2"], calls["final"]) == (0, 0, 1)
    assert result.result == {"combined": "pre-step1-pre-step2"}


async def test_should_time_travel_and_run_only_one_step_when_per_step_is_true(
    harness: Harness, calls: Calls
) -> None:
    """time-travel #9: should timeTravel a workflow execution and run only one step when perStep is true."""
    workflow, _, step2, _ = chain(calls, "tt-perstep-workflow")
    result = await travel(harness, workflow, step2, context=STEP1_CONTEXT, per_step=True)
    assert result.status == "paused"
    assert (calls["step1"], calls["step2"], calls["step3"]) == (0, 1, 0)
    assert result.steps["step2"].status == "success"
    assert result.steps["step2"].output == {"step2Result": 3}


async def test_should_time_travel_a_workflow_execution_that_was_previously_ran(
    harness: Harness, calls: Calls
) -> None:
    """time-travel #10: should timeTravel a workflow execution that was previously ran (a new run)."""
    workflow, _, step2, _ = chain(calls, "tt-prevrun-workflow")
    first = await harness.execute(workflow, {"value": 1})
    assert first.status == "success"
    assert (calls["step1"], calls["step2"], calls["step3"]) == (1, 1, 1)
    result = await travel(harness, workflow, step2, context={"step1": {"output": {"step1Result": 10}}})
    assert result.status == "success"
    assert (calls["step1"], calls["step2"], calls["step3"]) == (1, 2, 2)
    assert result.result == {"final": 12}


async def test_should_time_travel_a_workflow_execution_that_has_nested_workflows(
    harness: Harness, calls: Calls
) -> None:
    """time-travel #11: should timeTravel a workflow execution that has nested workflows."""
    step1 = counted(calls, "step1", lambda d: {"step1Result": 2})
    step2 = counted(calls, "step2", lambda d: {"step2Result": 3})
    step3 = counted(calls, "step3", lambda d: {"nestedFinal": d["step2Result"] + 1})
    step4 = counted(calls, "step4", lambda d: {"final": d["nestedFinal"] + 1})
    inner = create_workflow("tt-nested-inner").then(step2).then(step3).commit()
    workflow = create_workflow("tt-nested-workflow").then(step1).then(inner).then(step4).commit()
    result = await travel(harness, workflow, inner, context={"step1": {"output": {"step1Result": 2}}})
    assert result.status == "success"
    assert (calls["step1"], calls["step2"], calls["step3"], calls["step4"]) == (0, 1, 1, 1)
    assert result.result == {"final": 5}


async def test_should_successfully_suspend_a_time_travelled_workflow_execution(
    harness: Harness, calls: Calls
) -> None:
    """time-travel #12: should successfully suspend and resume a timeTravelled workflow execution."""

    async def suspending(ctx: Any) -> Any:
        calls.hit("suspendStep")
        await ctx.suspend()
        return {"suspended": True}

    step1 = counted(calls, "step1", lambda d: {"step1Result": 2})
    suspend_step = create_step("suspendStep", execute=suspending)
    step3 = counted(calls, "step3", lambda d: {"final": 12})
    workflow = create_workflow("tt-suspend-workflow").then(step1).then(suspend_step).then(step3).commit()
    result = await travel(harness, workflow, suspend_step, context={"step1": {"output": {"step1Result": 2}}})
    assert result.status == "suspended"
    assert (calls["step1"], calls["suspendStep"], calls["step3"]) == (0, 1, 0)
    assert result.suspended == [["suspendStep"]]


def conditional(calls: Calls, workflow_id: str) -> tuple[Any, Any]:
    check = counted(calls, "check", lambda d: {"branch": "A"})
    branch_a = counted(calls, "branchA", lambda d: {"result": "from A"})
    branch_b = counted(calls, "branchB", lambda d: {"result": "from B"})
    workflow = (
        create_workflow(workflow_id)
        .then(check)
        .branch(
            [
                (lambda ctx: ctx.input_data["branch"] == "A", branch_a),
                (lambda ctx: ctx.input_data["branch"] == "B", branch_b),
            ]
        )
        .commit()
    )
    return workflow, branch_a


async def test_should_time_travel_to_step_in_conditional_chains(harness: Harness, calls: Calls) -> None:
    """time-travel #13: should timeTravel to step in conditional chains (no key for the arm not run)."""
    workflow, branch_a = conditional(calls, "tt-conditional-workflow")
    result = await travel(harness, workflow, branch_a, context={"check": {"output": {"branch": "A"}}})
    assert result.status == "success"
    assert (calls["check"], calls["branchA"], calls["branchB"]) == (0, 1, 0)
    assert result.result == {"branchA": {"result": "from A"}}


async def test_should_time_travel_workflow_execution_for_a_do_until_workflow(
    harness: Harness, calls: Calls
) -> None:
    """time-travel #14: should timeTravel workflow execution for a do-until workflow."""
    loop_step = counted(calls, "loopStep", lambda d: {"counter": d["counter"] + 1})
    final_step = counted(calls, "finalStep", lambda d: {"final": d["counter"]})
    workflow = (
        create_workflow("tt-loop-workflow")
        .dountil(loop_step, lambda ctx: ctx.input_data["counter"] >= 3)
        .then(final_step)
        .commit()
    )
    context = {"loopStep": {"payload": {"counter": 2}, "output": {"counter": 3}}}
    result = await travel(harness, workflow, final_step, context=context)
    assert result.status == "success"
    assert (calls["loopStep"], calls["finalStep"]) == (0, 1)
    assert result.result == {"final": 3}


async def test_should_time_travel_previously_ran_workflow_with_per_step(
    harness: Harness, calls: Calls
) -> None:
    """time-travel #15: should timeTravel previously ran workflow with perStep."""
    workflow, _, step2, _ = chain(calls, "tt-prevrun-perstep-workflow")
    assert (await harness.execute(workflow, {"value": 1})).status == "success"
    result = await travel(
        harness, workflow, step2, context={"step1": {"output": {"step1Result": 10}}}, per_step=True
    )
    assert result.status == "paused"
    assert (calls["step1"], calls["step2"], calls["step3"]) == (1, 2, 1)
    assert result.steps["step2"].output == {"step2Result": 11}


async def test_should_time_travel_parallel_steps_with_per_step(harness: Harness, calls: Calls) -> None:
    """time-travel #16: should timeTravel parallel steps with perStep."""
    init = counted(calls, "initStep", lambda d: {"result": "init done"})
    p1 = counted(calls, "p1", lambda d: {"result": "p1 done"})
    p2 = counted(calls, "p2", lambda d: {"result": "p2 done"})
    final = counted(calls, "final", lambda d: {"result": "done"})
    workflow = (
        create_workflow("tt-parallel-perstep-workflow").then(init).parallel([p1, p2]).then(final).commit()
    )
    context = {"initStep": {"output": {"result": "init done"}}, "p2": {"output": {"result": "p2 done"}}}
    result = await travel(harness, workflow, p1, context=context, per_step=True)
    assert result.status == "paused"
    assert (calls["initStep"], calls["p1"], calls["p2"], calls["final"]) == (0, 1, 0, 0)


async def test_should_time_travel_conditional_chains_with_per_step(harness: Harness, calls: Calls) -> None:
    """time-travel #17: should timeTravel conditional chains with perStep."""
    workflow, branch_a = conditional(calls, "tt-conditional-perstep-workflow")
    result = await travel(
        harness, workflow, branch_a, context={"check": {"output": {"branch": "A"}}}, per_step=True
    )
    assert result.status == "paused"
    assert (calls["check"], calls["branchA"], calls["branchB"]) == (0, 1, 0)
    assert result.steps["branchA"].to_dict()["output"] == {"result": "from A"}


async def test_should_throw_error_if_trying_to_time_travel_to_a_non_existent_step(
    harness: Harness, calls: Calls
) -> None:
    """time-travel #18: should throw error if trying to timetravel to a non-existent step."""
    workflow, *_ = chain(calls, "tt-nonexistent-workflow")
    with pytest.raises(errors.StepNotFoundError, match="nonExistent"):
        await travel(harness, workflow, "nonExistent", context=STEP1_CONTEXT)


async def test_should_throw_error_if_trying_to_time_travel_a_workflow_execution_that_is_still_running(
    harness: Harness, calls: Calls
) -> None:
    """time-travel #19: a run still running (its process died mid-step) cannot be time travelled."""
    import asyncio

    entered: list[bool] = shared_list()

    async def hang(ctx: Any) -> Any:
        entered.append(True)
        await asyncio.Event().wait()

    workflow = create_workflow("tt-error-running-workflow").then(create_step("step1", execute=hang)).commit()
    run = await workflow.acreate_run(run_id="tt-error-running-test-run-id", engine=harness.engine)
    await run.aenqueue({"value": 0})
    await awaituntil(lambda: bool(entered))
    await harness.acrash(run)
    with pytest.raises(errors.TimeTravelError, match="still running"):
        await travel(harness, workflow, "step1", run_id=run.run_id, input_data={"step1Result": 2})


class Step2Input(BaseModel):
    step1Result: int


async def test_should_throw_error_if_validate_inputs_is_true_and_time_travel_input_is_invalid(
    harness: Harness, calls: Calls
) -> None:
    """time-travel #20: invalid input_data for the target step is refused before anything runs."""
    step1 = counted(calls, "step1", lambda d: {"step1Result": 2})
    step2 = counted(calls, "step2", lambda d: {"step2Result": 3}, input_schema=Step2Input)
    workflow = create_workflow("tt-error-invalid-input-workflow").then(step1).then(step2).commit()
    with pytest.raises(errors.StepInputValidationError, match="step1Result"):
        await travel(harness, workflow, "step2", input_data={"invalidPayload": 2})
    assert calls["step2"] == 0


async def test_should_time_travel_a_suspended_workflow_execution(harness: Harness, calls: Calls) -> None:
    """time-travel #21: time travel on a suspended run hands resume_data to the step that was suspended."""

    async def prompt_agent(ctx: Any) -> Any:
        calls.hit("promptAgent")
        if not ctx.resume_data:
            await ctx.suspend({"testPayload": "hello"})
            return None
        return {"modelOutput": "test output"}

    async def improve(ctx: Any) -> Any:
        calls.hit("improveResponse")
        if not ctx.resume_data:
            await ctx.suspend()
            return None
        return {"improvedOutput": "improved output"}

    workflow = (
        create_workflow("tt-suspended-workflow")
        .then(counted(calls, "getUserInput", lambda d: {"userInput": "test input"}))
        .then(create_step("promptAgent", execute=prompt_agent))
        .then(counted(calls, "evaluateToneConsistency", lambda d: {"toneScore": {"score": 0.8}}))
        .then(create_step("improveResponse", execute=improve))
        .commit()
    )
    first = await harness.execute(workflow, {"input": "test input"}, run_id="tt-suspended-run")
    assert first.steps["promptAgent"].status == "suspended"
    assert calls["promptAgent"] == 1
    result = await travel(
        harness,
        workflow,
        "getUserInput",
        run_id="tt-suspended-run",
        resume_data={"userInput": "test input for resumption"},
    )
    assert result.status == "suspended"
    assert result.suspended == [["improveResponse"]]
    assert (calls["getUserInput"], calls["promptAgent"]) == (2, 2)
    assert result.steps["promptAgent"].output == {"modelOutput": "test output"}


async def test_time_travel_stream_carries_the_events_of_the_travelled_run(
    harness: Harness, calls: Calls
) -> None:
    """time-travel (stream form): atime_travel_stream yields the run's events, then its result."""
    workflow, _, step2, _ = chain(calls, "tt-stream-workflow")
    run = await workflow.acreate_run(engine=harness.engine)
    stream = run.atime_travel_stream(step2, context=STEP1_CONTEXT)
    events = [event async for event in stream]
    result = await stream.result()
    assert result.result == {"final": 4}
    started = [e["payload"]["id"] for e in events if e["type"] == "workflow-step-start"]
    assert started == ["step2", "step3"]
