"""Basic workflow execution (spec: basic-execution #1-#14)."""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import pytest
from pydantic import BaseModel

from workflows_app import create_step, create_workflow, errors

from .conftest import Calls, Harness
from .processes import shared_list
from .shapes import Empty, ValueState, counted


def single_step_workflow(calls: Calls, workflow_id: str) -> Any:
    step1 = counted(calls, "step1", lambda ctx: {"result": "success"}, input_schema=Empty)
    return create_workflow(workflow_id, input_schema=Empty).then(step1).commit()


async def test_should_execute_a_single_step_workflow_successfully(harness: Harness, calls: Calls) -> None:
    """basic-execution #1: should execute a single step workflow successfully."""
    workflow = single_step_workflow(calls, "basic-single-step")
    result = await harness.execute(workflow, {})
    assert calls["step1"] == 1
    assert result.status == "success"
    assert result.steps["step1"].to_dict() == {
        "status": "success",
        "output": {"result": "success"},
        "payload": {},
        "started_at": ANY,
        "ended_at": ANY,
    }


async def test_should_start_workflow_and_complete_successfully(harness: Harness, calls: Calls) -> None:
    """basic-execution #2: should start workflow and complete successfully (through run.astart)."""
    workflow = single_step_workflow(calls, "basic-single-step-start")
    result = await harness.start(workflow, {})
    assert result.status == "success"
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"result": "success"}


async def test_should_execute_multiple_runs_of_a_workflow(harness: Harness, calls: Calls) -> None:
    """basic-execution #3: should execute multiple runs of a workflow (the step runs once per run)."""
    workflow = single_step_workflow(calls, "basic-single-step-runs")
    for n in (1, 2, 3):
        result = await harness.execute(workflow, {})
        assert result.status == "success"
        assert calls["step1"] == n


async def test_should_execute_a_single_step_workflow_successfully_with_state(
    harness: Harness, calls: Calls
) -> None:
    """basic-execution #4: should execute a single step workflow successfully with state."""

    async def execute(ctx: Any) -> Any:
        calls.hit("step1")
        new_value = ctx.state["value"] + "!!!"
        await ctx.set_state({"value": new_value})
        return {"result": "success", "value": new_value}

    step1 = create_step("step1", execute=execute, input_schema=Empty, state_schema=ValueState)
    workflow = (
        create_workflow("basic-single-step-with-state", input_schema=Empty, state_schema=ValueState)
        .then(step1)
        .commit()
    )
    result = await harness.execute(workflow, {}, initial_state={"value": "test-state"})
    assert calls["step1"] == 1
    assert result.status == "success"
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"result": "success", "value": "test-state!!!"}


async def test_should_execute_multiple_steps_in_sequence(harness: Harness, calls: Calls) -> None:
    """basic-execution #5: should execute multiple steps in sequence."""
    step1 = counted(calls, "step1", lambda ctx: {"value": "step1-result"})
    step2 = counted(calls, "step2", lambda ctx: {"value": "step2-result"})
    workflow = create_workflow("basic-two-step-sequence").then(step1).then(step2).commit()
    result = await harness.execute(workflow, {})
    assert (calls["step1"], calls["step2"]) == (1, 1)
    assert result.status == "success"
    assert result.steps["step1"].output == {"value": "step1-result"}
    assert result.steps["step2"].output == {"value": "step2-result"}
    assert calls.inputs["step2"] == [{"value": "step1-result"}]


async def test_should_execute_multiple_steps_in_parallel(harness: Harness, calls: Calls) -> None:
    """basic-execution #6: should execute multiple steps in parallel."""
    step1 = counted(calls, "step1", lambda ctx: {"value": "step1"})
    step2 = counted(calls, "step2", lambda ctx: {"value": "step2"})
    workflow = create_workflow("basic-parallel-steps").parallel([step1, step2]).commit()
    result = await harness.execute(workflow, {})
    assert (calls["step1"], calls["step2"]) == (1, 1)
    assert result.status == "success"
    assert result.steps["step1"].to_dict() == {
        "status": "success",
        "output": {"value": "step1"},
        "payload": {},
        "started_at": ANY,
        "ended_at": ANY,
    }
    assert result.steps["step2"].to_dict() == {
        "status": "success",
        "output": {"value": "step2"},
        "payload": {},
        "started_at": ANY,
        "ended_at": ANY,
    }
    assert result.result == {"step1": {"value": "step1"}, "step2": {"value": "step2"}}


async def test_should_be_able_to_bail_workflow_execution(harness: Harness, calls: Calls) -> None:
    """basic-execution #7: should be able to bail workflow execution."""

    class In(BaseModel):
        value: str

    async def first(ctx: Any) -> Any:
        calls.hit("step1")
        if ctx.input_data["value"] == "bail":
            return await ctx.bail({"result": "bailed"})
        return {"result": "step1: " + ctx.input_data["value"]}

    step1 = create_step("step1", execute=first, input_schema=In)
    step2 = counted(calls, "step2", lambda ctx: {"result": "step2: " + ctx.input_data["result"]})
    workflow = create_workflow("basic-bail", input_schema=In).then(step1).then(step2).commit()

    bailed = await harness.execute(workflow, {"value": "bail"})
    assert bailed.status == "success"
    assert bailed.steps["step1"].status == "success"
    assert bailed.steps["step1"].output == {"result": "bailed"}
    assert "step2" not in bailed.steps
    assert bailed.result == {"result": "bailed"}
    assert calls["step2"] == 0

    ran = await harness.execute(workflow, {"value": "no-bail"})
    assert ran.status == "success"
    assert ran.steps["step1"].output == {"result": "step1: no-bail"}
    assert ran.steps["step2"].output == {"result": "step2: step1: no-bail"}


async def test_should_have_run_id_in_the_step_execute_function(harness: Harness) -> None:
    """basic-execution #8: should have runId in the step execute function."""
    seen: list[Any] = shared_list()

    async def execute(ctx: Any) -> Any:
        seen.append(ctx.run_id)
        return {"result": "success"}

    workflow = create_workflow("basic-runid").then(create_step("step1", execute=execute)).commit()
    result = await harness.execute(workflow, {}, run_id="basic-runid-run")
    assert result.status == "success"
    assert len(seen) == 1
    assert isinstance(seen[0], str)
    assert seen[0] == "basic-runid-run"


async def test_should_execute_multiple_steps_in_parallel_with_state(harness: Harness, calls: Calls) -> None:
    """basic-execution #9: should execute multiple steps in parallel with state."""
    step1 = counted(
        calls,
        "step1",
        lambda ctx: {"value": "step1", "stateValue": ctx.state["value"]},
        state_schema=ValueState,
    )
    step2 = counted(
        calls,
        "step2",
        lambda ctx: {"value": "step2", "stateValue": ctx.state["value"]},
        state_schema=ValueState,
    )
    workflow = (
        create_workflow("basic-parallel-with-state", state_schema=ValueState)
        .parallel([step1, step2])
        .commit()
    )
    result = await harness.execute(workflow, {}, initial_state={"value": "test-state"})
    assert result.status == "success"
    assert result.steps["step1"].output == {"value": "step1", "stateValue": "test-state"}
    assert result.steps["step2"].output == {"value": "step2", "stateValue": "test-state"}


async def test_should_have_access_to_typed_workflow_results(harness: Harness, calls: Calls) -> None:
    """basic-execution #10: should have access to typed workflow results."""

    class Nested(BaseModel):
        value: str

    class Out(BaseModel):
        nested: Nested

    step1 = counted(calls, "step1", lambda ctx: Out(nested=Nested(value="step1-data")), output_schema=Out)
    workflow = create_workflow("basic-typed-results", output_schema=Out).then(step1).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert result.result == {"nested": {"value": "step1-data"}}


async def test_should_pass_input_data_through_to_steps(harness: Harness, calls: Calls) -> None:
    """basic-execution #11: should pass input data through to steps."""

    class In(BaseModel):
        foo: str
        bar: int

    step1 = counted(calls, "step1", lambda ctx: {"ok": True}, input_schema=In)
    workflow = create_workflow("basic-input-data", input_schema=In).then(step1).commit()
    result = await harness.execute(workflow, {"foo": "hello", "bar": 42})
    assert result.status == "success"
    assert calls.inputs["step1"] == [{"foo": "hello", "bar": 42}]


async def test_should_throw_error_when_execution_flow_not_defined(harness: Harness, calls: Calls) -> None:
    """basic-execution #12: should throw error when execution flow not defined."""
    step1 = counted(calls, "step1", lambda ctx: {})
    workflow = create_workflow("basic-no-flow", steps=[step1])
    with pytest.raises(
        errors.ExecutionFlowNotDefinedError, match="Execution flow of workflow is not defined"
    ):
        await workflow.acreate_run(engine=harness.engine)
    assert calls["step1"] == 0


async def test_should_throw_error_when_execution_graph_is_not_committed(
    harness: Harness, calls: Calls
) -> None:
    """basic-execution #13: should throw error when execution graph is not committed."""
    step1 = counted(calls, "step1", lambda ctx: {})
    workflow = create_workflow("basic-uncommitted").then(step1)
    assert workflow.committed is False
    with pytest.raises(errors.UncommittedWorkflowError, match="Uncommitted step flow changes detected"):
        await workflow.acreate_run(engine=harness.engine)
    assert calls["step1"] == 0


async def test_should_handle_missing_suspend_data_gracefully(harness: Harness) -> None:
    """basic-execution #14: should handle missing suspendData gracefully."""

    class In(BaseModel):
        value: str

    async def execute(ctx: Any) -> Any:
        if ctx.suspend_data is None:
            return {"result": f"{ctx.input_data['value']}: No suspend data"}
        return {"result": f"{ctx.input_data['value']}: {ctx.suspend_data}"}

    step = create_step("no-suspend-step", execute=execute, input_schema=In)
    workflow = create_workflow("basic-missing-suspend-data", input_schema=In).then(step).commit()
    result = await harness.execute(workflow, {"value": "test"})
    assert result.status == "success"
    assert result.result == {"result": "test: No suspend data"}
