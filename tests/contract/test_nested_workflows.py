"""Nested workflows: a committed workflow used as a step (spec: nested-workflows #1-#7).

A nested workflow shows in the parent's result as one step keyed by its id, whose
payload is what the parent passed in and whose output is the nested run's result.
Workflow ids carry the ``nw-`` prefix.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from workflows_app import create_step, create_workflow

from .conftest import Calls, Harness
from .shapes import Empty, Input, counted


class Text(BaseModel):
    value: str


class ParentState(BaseModel):
    value: str
    otherValue: str


class NestedState(BaseModel):
    value: str


async def test_should_execute_nested_workflow_as_a_step(harness: Harness, calls: Calls) -> None:
    """nested-workflows #1: should execute nested workflow as a step."""
    step1 = counted(calls, "step1", lambda ctx: {"value": "step1"}, input_schema=Empty, output_schema=Text)
    step2 = counted(calls, "step2", lambda ctx: {"value": "step2"}, input_schema=Text, output_schema=Text)
    step3 = counted(calls, "step3", lambda ctx: {"value": "step3"}, input_schema=Text, output_schema=Text)
    nested = (
        create_workflow("nw-basic-inner", input_schema=Text, output_schema=Text)
        .then(step2)
        .then(step3)
        .commit()
    )
    workflow = create_workflow("nw-basic-main", input_schema=Empty).then(step1).then(nested).commit()

    result = await harness.execute(workflow, {})

    assert result.status == "success"
    assert (calls["step1"], calls["step2"], calls["step3"]) == (1, 1, 1)
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"value": "step1"}
    assert result.steps["nw-basic-inner"].status == "success"
    assert result.steps["nw-basic-inner"].output == {"value": "step3"}
    assert result.steps["nw-basic-inner"].payload == {"value": "step1"}
    assert "step2" not in result.steps  # inner steps are not top-level entries
    assert "step3" not in result.steps


async def test_should_handle_failing_steps_in_nested_workflows(harness: Harness, calls: Calls) -> None:
    """nested-workflows #2: should handle failing steps in nested workflows.

    JS checks ``error instanceof Error``; ours: the nested step's error is an
    exception carrying the inner step's message.
    """

    def fail(ctx: Any) -> Any:
        raise RuntimeError("Step execution failed")

    step1 = counted(calls, "step1", lambda ctx: {}, input_schema=Empty, output_schema=Empty)
    step2 = counted(calls, "step2", fail, input_schema=Empty, output_schema=Empty)
    nested = create_workflow("nw-failing-inner", input_schema=Empty).then(step2).commit()
    workflow = create_workflow("nw-failing-main", input_schema=Empty).then(step1).then(nested).commit()

    result = await harness.execute(workflow, {})

    assert result.status == "failed"
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].payload == {}
    inner = result.steps["nw-failing-inner"]
    assert inner.status == "failed"
    assert inner.payload == {}
    assert isinstance(inner.error, Exception)
    assert "Step execution failed" in str(inner.error)
    assert (calls["step1"], calls["step2"]) == (1, 1)


async def test_should_pass_data_between_parent_and_nested_workflow(harness: Harness) -> None:
    """nested-workflows #3: should pass data between parent and nested workflow."""

    class Result(BaseModel):
        result: str

    outer = create_step(
        "outer-step",
        execute=lambda ctx: {"value": ctx.input_data["input"] + "-outer"},
        input_schema=Input,
        output_schema=Text,
    )
    inner = create_step(
        "inner-step",
        execute=lambda ctx: {"result": ctx.input_data["value"] + "-inner"},
        input_schema=Text,
        output_schema=Result,
    )
    nested = (
        create_workflow("nw-data-passing-inner", input_schema=Text, output_schema=Result).then(inner).commit()
    )
    workflow = create_workflow("nw-data-passing-main", input_schema=Input).then(outer).then(nested).commit()

    result = await harness.execute(workflow, {"input": "test"})

    assert result.status == "success"
    assert result.steps["outer-step"].status == "success"
    assert result.steps["outer-step"].output == {"value": "test-outer"}
    assert result.steps["nw-data-passing-inner"].status == "success"
    assert result.steps["nw-data-passing-inner"].output == {"result": "test-outer-inner"}
    assert result.result == {"result": "test-outer-inner"}


async def test_should_execute_nested_workflow_with_conditions(harness: Harness, calls: Calls) -> None:
    """nested-workflows #4: should execute nested workflow with conditions."""
    step_a = counted(calls, "stepA", lambda ctx: {"value": "a"}, input_schema=Empty, output_schema=Text)
    step_b = counted(calls, "stepB", lambda ctx: {"value": "b"}, input_schema=Text, output_schema=Text)
    step_c = counted(calls, "stepC", lambda ctx: {"value": "c"}, input_schema=Text, output_schema=Text)

    async def is_b(ctx: Any) -> bool:
        return bool(ctx.input_data["value"] == "b")

    nested = (
        create_workflow("nw-conditions-inner", input_schema=Text, output_schema=Text)
        .then(step_b)
        .branch([(is_b, step_c)])
        .commit()
    )
    workflow = create_workflow("nw-conditions-main", input_schema=Empty).then(step_a).then(nested).commit()

    result = await harness.execute(workflow, {})

    assert result.status == "success"
    assert result.steps["stepA"].status == "success"
    assert result.steps["stepA"].output == {"value": "a"}
    assert result.steps["nw-conditions-inner"].status == "success"
    assert result.steps["nw-conditions-inner"].output == {"stepC": {"value": "c"}}
    assert (calls["stepA"], calls["stepB"], calls["stepC"]) == (1, 1, 1)


async def test_should_handle_multiple_levels_of_nesting(harness: Harness) -> None:
    """nested-workflows #5: should handle multiple levels of nesting."""
    step1 = create_step(
        "step1", execute=lambda ctx: {"value": "level1"}, input_schema=Empty, output_schema=Text
    )
    step2 = create_step(
        "step2", execute=lambda ctx: {"value": ctx.input_data["value"] + "-level2"}, input_schema=Text
    )
    step3 = create_step(
        "step3", execute=lambda ctx: {"value": ctx.input_data["value"] + "-level3"}, input_schema=Text
    )
    inner = create_workflow("nw-multi-inner", input_schema=Text, output_schema=Text).then(step3).commit()
    middle = (
        create_workflow("nw-multi-middle", input_schema=Text, output_schema=Text)
        .then(step2)
        .then(inner)
        .commit()
    )
    workflow = create_workflow("nw-multi-outer", input_schema=Empty).then(step1).then(middle).commit()

    result = await harness.execute(workflow, {})

    assert result.status == "success"
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"value": "level1"}
    assert result.steps["nw-multi-middle"].status == "success"
    assert result.steps["nw-multi-middle"].output == {"value": "level1-level2-level3"}
    assert "nw-multi-inner" not in result.steps


async def test_should_execute_nested_workflow_with_state(harness: Harness) -> None:
    """nested-workflows #6: should execute nested workflow with state."""
    step1 = create_step(
        "step1",
        execute=lambda ctx: {"result": "success", "value": ctx.state["value"]},
        input_schema=Empty,
        state_schema=NestedState,
    )
    nested = (
        create_workflow("nw-with-state-inner", input_schema=Empty, state_schema=NestedState)
        .then(step1)
        .commit()
    )
    workflow = (
        create_workflow("nw-with-state-main", input_schema=Empty, state_schema=ParentState)
        .then(nested)
        .commit()
    )

    result = await harness.execute(workflow, {}, initial_state={"value": "test-state", "otherValue": "other"})

    assert result.status == "success"
    assert result.steps["nw-with-state-inner"].status == "success"
    assert result.steps["nw-with-state-inner"].output == {"result": "success", "value": "test-state"}


async def test_should_execute_nested_workflow_with_state_being_set_by_the_nested_workflow(
    harness: Harness,
) -> None:
    """nested-workflows #7: should execute nested workflow with state being set by the nested workflow."""

    async def add_bangs(ctx: Any) -> Any:
        await ctx.set_state({**ctx.state, "value": ctx.state["value"] + "!!!"})
        return {}

    step1 = create_step("step1", execute=add_bangs, input_schema=Empty, state_schema=NestedState)
    step2 = create_step(
        "step2",
        execute=lambda ctx: {"result": "success", "value": ctx.state["value"]},
        input_schema=Empty,
        state_schema=NestedState,
    )
    nested = (
        create_workflow("nw-setstate-inner", input_schema=Empty, state_schema=NestedState)
        .then(step1)
        .then(step2)
        .commit()
    )
    workflow = (
        create_workflow("nw-setstate-main", input_schema=Empty, state_schema=ParentState)
        .then(nested)
        .commit()
    )

    result = await harness.execute(
        workflow, {}, initial_state={"value": "test-state", "otherValue": "other"}, include_state=True
    )

    assert result.status == "success"
    assert result.steps["nw-setstate-inner"].status == "success"
    assert result.steps["nw-setstate-inner"].output == {"result": "success", "value": "test-state!!!"}
    assert result.state == {"value": "test-state!!!", "otherValue": "other"}
