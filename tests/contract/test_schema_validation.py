"""Schema validation of workflow and step inputs (spec: schema-validation #1-#10).

The spec's messages are zod's; ours are pydantic's, in the same frame:
``"Invalid input data: \\n- <path>: <issue>"`` for a workflow input (raised before
the run starts) and ``"Step input validation failed: \\n- <path>: <issue>"`` for a
step input (the run fails).
"""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from pydantic import BaseModel, RootModel

from workflows_app import create_step, create_workflow, errors

from .conftest import Calls, Harness
from .shapes import counted


def echo(step_id: str, **options: Any) -> Any:
    return create_step(step_id, execute=lambda ctx: ctx.input_data, **options)


class NestedValue(BaseModel):
    value: float


class StartString(BaseModel):
    start: str


async def test_should_throw_error_if_trigger_data_is_invalid(harness: Harness, calls: Calls) -> None:
    """schema-validation #1: should throw error if trigger data is invalid (the stack check becomes the
    message of the raised exception)."""

    class In(BaseModel):
        required: str
        nested: NestedValue

    step1 = counted(calls, "step1", lambda ctx: ctx.input_data)
    workflow = (
        create_workflow("schema-invalid-trigger", input_schema=In, validate_inputs=True).then(step1).commit()
    )
    with pytest.raises(errors.InputValidationError) as raised:
        await harness.execute(workflow, {"required": "test", "nested": {"value": "not-a-number"}})
    assert str(raised.value) == (
        "Invalid input data: \n- nested.value: "
        "Input should be a valid number, unable to parse string as a number"
    )
    assert calls["step1"] == 0


async def test_should_use_default_value_from_input_schema(harness: Harness) -> None:
    """schema-validation #2: should use default value from inputSchema."""

    class In(BaseModel):
        required: str
        nested: NestedValue = NestedValue(value=1)

    workflow = create_workflow("schema-default-input", input_schema=In).then(echo("step1")).commit()
    result = await harness.execute(workflow, {"required": "test"})
    assert result.status == "success"
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].payload == {"required": "test", "nested": {"value": 1}}
    assert result.steps["step1"].output == {"required": "test", "nested": {"value": 1}}
    assert result.result == {"required": "test", "nested": {"value": 1}}


async def test_should_throw_error_if_input_data_is_invalid(harness: Harness, calls: Calls) -> None:
    """schema-validation #3: should throw error if inputData is invalid."""
    step1 = counted(calls, "step1", lambda ctx: {"result": "success"}, input_schema=StartString)
    workflow = (
        create_workflow("schema-invalid-input", input_schema=StartString, validate_inputs=True)
        .then(step1)
        .commit()
    )
    with pytest.raises(errors.InputValidationError) as raised:
        await harness.execute(workflow, {"start": 123})
    assert str(raised.value) == "Invalid input data: \n- start: Input should be a valid string"
    assert calls["step1"] == 0


async def test_should_use_default_value_from_input_schema_for_step_input(harness: Harness) -> None:
    """schema-validation #4: should use default value from inputSchema for step input."""

    class Defaulted(BaseModel):
        defaultedValue: str = "default-value"

    step1 = create_step("step1", execute=lambda ctx: {"someValue": "test"})
    step2 = create_step(
        "step2",
        execute=lambda ctx: {"result": ctx.input_data["defaultedValue"] + "-processed"},
        input_schema=Defaulted,
    )
    workflow = create_workflow("schema-step-default").then(step1).then(step2).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert result.steps["step2"].payload == {"defaultedValue": "default-value"}
    assert result.steps["step2"].output == {"result": "default-value-processed"}


async def test_should_allow_a_steps_input_schema_to_be_a_subset_of_the_previous_step_output_schema(
    harness: Harness,
) -> None:
    """schema-validation #5: should allow a steps input schema to be a subset of the previous step
    output schema."""

    class Subset(BaseModel):
        value1: str

    step1 = create_step(
        "step1", execute=lambda ctx: {"value1": "test1", "value2": "test2", "value3": "test3"}
    )
    step2 = create_step(
        "step2", execute=lambda ctx: {"result": ctx.input_data["value1"] + "-processed"}, input_schema=Subset
    )
    workflow = create_workflow("schema-subset").then(step1).then(step2).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert result.steps["step2"].payload == {"value1": "test1"}
    assert result.steps["step2"].output == {"result": "test1-processed"}


async def test_should_properly_validate_input_schema_when_map_is_used_after_foreach_bug_11313(
    harness: Harness, calls: Calls
) -> None:
    """schema-validation #6: should properly validate input schema when .map is used after .foreach -
    bug #11313."""

    class Value(BaseModel):
        value: int

    class Values(RootModel[list[Value]]):
        pass

    class Summed(BaseModel):
        inputValue: int

    add = counted(calls, "map", lambda ctx: {"value": ctx.input_data["value"] + 11}, input_schema=Value)
    final = create_step(
        "final", execute=lambda ctx: {"finalValue": ctx.input_data["inputValue"]}, input_schema=Summed
    )
    workflow = (
        create_workflow("schema-map-after-foreach", input_schema=Values)
        .foreach(add)
        .map(lambda ctx: {"inputValue": sum(item["value"] for item in ctx.input_data)}, id="map-step")
        .then(final)
        .commit()
    )
    result = await harness.execute(workflow, [{"value": 1}, {"value": 22}, {"value": 333}])
    assert result.status == "success"
    assert calls["map"] == 3
    assert result.steps["map"].status == "success"
    assert result.steps["map"].output == [{"value": 12}, {"value": 33}, {"value": 344}]
    assert result.steps["map-step"].status == "success"
    assert result.steps["map-step"].output == {"inputValue": 389}
    assert result.steps["final"].status == "success"
    assert result.steps["final"].output == {"finalValue": 389}


async def test_should_throw_error_if_input_data_is_invalid_in_workflow_with_map(
    harness: Harness, calls: Calls
) -> None:
    """schema-validation #7: should throw error if inputData is invalid in workflow with .map()."""

    class StartNumber(BaseModel):
        start: int

    step1 = create_step(
        "step1", execute=lambda ctx: {"start": ctx.input_data["start"]}, input_schema=StartNumber
    )
    step2 = counted(calls, "step2", lambda ctx: {"result": "success"}, input_schema=StartString)
    workflow = (
        create_workflow("schema-map-invalid", input_schema=StartNumber, validate_inputs=True)
        .then(step1)
        .map(lambda ctx: {"start": ctx.input_data["start"]})
        .then(step2)
        .commit()
    )
    result = await harness.execute(workflow, {"start": 2})
    assert result.status == "failed"
    assert result.error is not None
    assert "Step input validation failed" in result.error["message"]
    assert "start: Input should be a valid string" in result.error["message"]
    assert result.steps["step2"].status == "failed"
    assert result.steps["step2"].payload == {"start": 2}
    assert isinstance(result.steps["step2"].error, errors.StepInputValidationError)
    assert calls["step2"] == 0


async def test_should_throw_error_if_input_data_is_invalid_in_nested_workflows(
    harness: Harness, calls: Calls
) -> None:
    """schema-validation #8: should throw error if inputData is invalid in nested workflows."""

    class Num(BaseModel):
        num: int

    class ValueString(BaseModel):
        value: str

    outer = create_step("outer-step", execute=lambda ctx: {"value": ctx.input_data["num"]}, input_schema=Num)
    inner_step = counted(calls, "inner-step", lambda ctx: {"ok": True})
    inner = (
        create_workflow("schema-nested-inner", input_schema=ValueString, validate_inputs=True)
        .then(inner_step)
        .commit()
    )
    workflow = create_workflow("schema-nested-outer", input_schema=Num).then(outer).then(inner).commit()
    result = await harness.execute(workflow, {"num": 42})
    assert result.status == "failed"
    assert result.error is not None
    assert "Input should be a valid string" in result.error["message"]
    assert result.steps["schema-nested-inner"].status == "failed"
    assert calls["inner-step"] == 0


async def test_should_preserve_zod_error_as_cause_when_input_validation_fails(
    harness: Harness, calls: Calls
) -> None:
    """schema-validation #9: should preserve ZodError as cause when input validation fails (here the pydantic
    ValidationError: the cause of the step's error in memory, ``cause.issues`` in the result's error)."""

    class Required(BaseModel):
        requiredField: str
        numberField: float

    step1 = counted(calls, "step1", lambda ctx: {"ok": True}, input_schema=Required)
    workflow = create_workflow("schema-zod-cause").then(step1).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    assert result.error is not None
    assert "Step input validation failed" in result.error["message"]
    cause = result.error.get("cause")
    assert cause is not None
    assert isinstance(cause["issues"], list)
    assert len(cause["issues"]) >= 2
    step_error = result.steps["step1"].error
    assert isinstance(step_error, errors.StepInputValidationError)
    assert isinstance(step_error.__cause__, pydantic.ValidationError)
    assert len(step_error.__cause__.errors()) >= 2
    assert calls["step1"] == 0


async def test_should_throw_error_if_wait_for_event_is_used(harness: Harness) -> None:
    """schema-validation #10: should throw error if waitForEvent is used."""
    step1 = create_step("step1", execute=lambda ctx: {})
    step2 = create_step("step2", execute=lambda ctx: {})
    workflow = create_workflow("schema-wait-for-event").then(step1)
    with pytest.raises(errors.WorkflowDefinitionError, match="waitForEvent has been removed"):
        workflow.wait_for_event("hello-event", step2)
