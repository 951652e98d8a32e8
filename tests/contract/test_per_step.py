"""perStep execution (spec: per-step #1-#5).

With ``per_step=True`` one leaf step runs, then the run ends ``paused`` with no
result: in a parallel block only its first member runs, a branch does not start
after the step before it, and a nested workflow is not entered once the step
before it has run. Workflow ids carry the ``perstep-`` prefix.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from workflows_app import create_workflow

from .conftest import Calls, Harness
from .shapes import Input, returning


class Text(BaseModel):
    value: str


class Check(BaseModel):
    shouldBranch: bool


def basic_workflow(calls: Calls, workflow_id: str) -> Any:
    step1 = returning(calls, "step1", {"value": "step1-done"}, input_schema=Input, output_schema=Text)
    step2 = returning(calls, "step2", {"value": "step2-done"}, input_schema=Text, output_schema=Text)
    return (
        create_workflow(workflow_id, input_schema=Input, output_schema=Text).then(step1).then(step2).commit()
    )


async def test_should_execute_only_first_step_when_per_step_is_true(harness: Harness, calls: Calls) -> None:
    """per-step #1: should execute only first step when perStep is true."""
    workflow = basic_workflow(calls, "perstep-basic")
    result = await harness.execute(workflow, {"input": "test"}, per_step=True)
    assert result.status == "paused"
    assert result.result is None
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"value": "step1-done"}
    assert "step2" not in result.steps
    assert (calls["step1"], calls["step2"]) == (1, 0)
    types = [event["type"] for event in harness.events]
    assert types[-2:] == ["workflow-paused", "workflow-finish"]
    assert harness.events[-1]["payload"]["workflow_status"] == "paused"


async def test_should_execute_only_one_step_in_parallel_workflow_when_per_step_is_true(
    harness: Harness, calls: Calls
) -> None:
    """per-step #2: should execute only one step in parallel workflow when perStep is true."""
    step_a = returning(calls, "stepA", {"value": "A-done"}, input_schema=Input, output_schema=Text)
    step_b = returning(calls, "stepB", {"value": "B-done"}, input_schema=Input, output_schema=Text)
    step_c = returning(calls, "stepC", {"value": "C-done"}, output_schema=Text)
    workflow = (
        create_workflow("perstep-parallel", input_schema=Input, output_schema=Text)
        .parallel([step_a, step_b])
        .then(step_c)
        .commit()
    )
    result = await harness.execute(workflow, {"input": "test"}, per_step=True)
    assert result.status == "paused"
    assert result.steps["stepA"].status == "success"
    assert result.steps["stepA"].output == {"value": "A-done"}
    assert "stepB" not in result.steps
    assert "stepC" not in result.steps
    assert (calls["stepA"], calls["stepB"], calls["stepC"]) == (1, 0, 0)


async def test_should_execute_only_check_step_in_conditional_when_per_step_is_true(
    harness: Harness, calls: Calls
) -> None:
    """per-step #3: should execute only check step in conditional when perStep is true."""
    check = returning(calls, "check", {"shouldBranch": True}, input_schema=Input, output_schema=Check)
    branch_a = returning(calls, "branchA", {"result": "took-A"}, input_schema=Check)
    branch_b = returning(calls, "branchB", {"result": "took-B"}, input_schema=Check)

    async def should_branch(ctx: Any) -> bool:
        return bool(ctx.input_data["shouldBranch"] is True)

    async def should_not_branch(ctx: Any) -> bool:
        return bool(ctx.input_data["shouldBranch"] is False)

    workflow = (
        create_workflow("perstep-conditional", input_schema=Input)
        .then(check)
        .branch([(should_branch, branch_a), (should_not_branch, branch_b)])
        .commit()
    )
    result = await harness.execute(workflow, {"input": "test"}, per_step=True)
    assert result.status == "paused"
    assert result.steps["check"].status == "success"
    assert result.steps["check"].output == {"shouldBranch": True}
    assert "branchA" not in result.steps
    assert "branchB" not in result.steps
    assert (calls["check"], calls["branchA"], calls["branchB"]) == (1, 0, 0)


async def test_should_execute_only_outer_step_in_nested_workflow_when_per_step_is_true(
    harness: Harness, calls: Calls
) -> None:
    """per-step #4: should execute only outer step in nested workflow when perStep is true."""
    inner_step = returning(calls, "innerStep", {"value": "inner-done"}, input_schema=Text, output_schema=Text)
    inner = (
        create_workflow("perstep-inner-workflow", input_schema=Text, output_schema=Text)
        .then(inner_step)
        .commit()
    )
    outer_step = returning(
        calls, "outerStep", {"value": "outer-done"}, input_schema=Input, output_schema=Text
    )
    final_step = returning(calls, "finalStep", {"value": "final-done"}, input_schema=Text, output_schema=Text)
    workflow = (
        create_workflow("perstep-nested", input_schema=Input, output_schema=Text)
        .then(outer_step)
        .then(inner)
        .then(final_step)
        .commit()
    )
    result = await harness.execute(workflow, {"input": "test"}, per_step=True)
    assert result.status == "paused"
    assert result.steps["outerStep"].status == "success"
    assert result.steps["outerStep"].output == {"value": "outer-done"}
    assert "perstep-inner-workflow" not in result.steps
    assert "finalStep" not in result.steps
    assert (calls["outerStep"], calls["innerStep"], calls["finalStep"]) == (1, 0, 0)


async def test_should_continue_execution_step_by_step_with_multiple_per_step_calls(
    harness: Harness, calls: Calls
) -> None:
    """per-step #5: should continue execution step by step with multiple perStep calls.

    As in the spec, only the first perStep call is checked.
    """
    workflow = basic_workflow(calls, "perstep-continue")
    result = await harness.execute(workflow, {"input": "test"}, per_step=True)
    assert result.status == "paused"
    assert "step1" in result.steps
    assert "step2" not in result.steps
    assert calls["step1"] == 1
