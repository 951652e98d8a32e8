"""If-else branching (spec: branching #1-#8).

Each arm whose condition holds runs; an arm may be a nested workflow, which
shows in the parent's result as one step keyed by its workflow id, with the
nested run's result as output. Workflow ids carry the ``branch-`` prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from workflows_app import Step, create_step, create_workflow

from .conftest import Calls, Harness
from .shapes import FinalValue, NewValue, Result, StartValue, Value


class Other(BaseModel):
    other: int


class OtherAndNew(BaseModel):
    newValue: int
    other: int


class MaybeOtherAndNew(BaseModel):
    newValue: int | None = None
    other: int | None = None


class Category(BaseModel):
    category: int


class Raw(BaseModel):
    rawValue: int


class Processed(BaseModel):
    processedValue: int
    flag: bool


class Final(BaseModel):
    final: str


class Success(BaseModel):
    success: bool


def counted(calls: Calls, name: str, step_id: str, fn: Callable[[Any], Any], **options: Any) -> Step:
    """A step counted under ``name`` (the spec's mock; one mock may serve two steps)."""

    async def execute(ctx: Any) -> Any:
        calls.hit(name, ctx.input_data)
        return await fn(ctx)

    return create_step(step_id, execute=execute, **options)


def constant(value: Any) -> Callable[[Any], Any]:
    async def fn(ctx: Any) -> Any:
        return value

    return fn


async def increment_start(ctx: Any) -> dict[str, Any]:
    return {"newValue": (ctx.input_data.get("startValue") or 0) + 1}


def sum_of_start_and_other(start: Step, other: Step) -> Callable[[Any], Any]:
    """``start.newValue + other.other`` read with get_step_result (0 for a step that did not run here)."""

    async def fn(ctx: Any) -> dict[str, Any]:
        start_output = await ctx.get_step_result(start) or {}
        other_output = await ctx.get_step_result(other) or {}
        return {"finalValue": start_output.get("newValue", 0) + other_output.get("other", 0)}

    return fn


async def new_value_small(ctx: Any) -> bool:
    current = ctx.input_data["newValue"]
    return not current or current < 5


async def new_value_large(ctx: Any) -> bool:
    return bool(ctx.input_data["newValue"] >= 5)


def if_else_workflow(calls: Calls, workflow_id: str) -> Any:
    """start -> branch(newValue < 5: finalIf, newValue >= 5: nested workflow other -> finalElse)."""

    async def other_fn(ctx: Any) -> dict[str, Any]:
        return {"newValue": ctx.input_data["newValue"], "other": 26}

    async def final_else_fn(ctx: Any) -> dict[str, Any]:
        return {"finalValue": ctx.input_data["newValue"] + ctx.input_data["other"]}

    start = counted(calls, "start", "start", increment_start, input_schema=StartValue, output_schema=NewValue)
    other = counted(calls, "other", "other", other_fn, input_schema=NewValue, output_schema=OtherAndNew)
    final_if = counted(
        calls,
        "final",
        "finalIf",
        sum_of_start_and_other(start, other),
        input_schema=NewValue,
        output_schema=FinalValue,
    )
    final_else = counted(
        calls, "final", "finalElse", final_else_fn, input_schema=OtherAndNew, output_schema=FinalValue
    )
    else_branch = (
        create_workflow(f"{workflow_id}-nested", input_schema=NewValue, output_schema=FinalValue)
        .then(other)
        .then(final_else)
        .commit()
    )
    return (
        create_workflow(workflow_id, input_schema=StartValue, output_schema=FinalValue)
        .then(start)
        .branch([(new_value_small, final_if), (new_value_large, else_branch)])
        .commit()
    )


async def test_should_run_the_if_then_branch(harness: Harness, calls: Calls) -> None:
    """branching #1: should run the if-then branch."""
    workflow = if_else_workflow(calls, "branch-if-then")

    result = await harness.execute(workflow, {"startValue": 1})

    assert (calls["start"], calls["other"], calls["final"]) == (1, 0, 1)
    assert result.status == "success"
    assert result.steps["finalIf"].output == {"finalValue": 2}
    assert result.steps["start"].output == {"newValue": 2}
    assert "branch-if-then-nested" not in result.steps


async def test_should_run_the_else_branch(harness: Harness, calls: Calls) -> None:
    """branching #2: should run the else branch."""
    workflow = if_else_workflow(calls, "branch-else")

    result = await harness.execute(workflow, {"startValue": 6})

    assert (calls["start"], calls["other"], calls["final"]) == (1, 1, 1)
    assert result.status == "success"
    assert result.steps["branch-else-nested"].output == {"finalValue": 26 + 6 + 1}
    assert result.steps["start"].output == {"newValue": 7}
    assert "finalIf" not in result.steps


def three_way_workflow(calls: Calls, workflow_id: str) -> Any:
    """check -> branch(< 33: low, 33..65: medium, >= 66: high)."""

    async def category(ctx: Any) -> dict[str, Any]:
        return {"category": ctx.input_data["value"]}

    check = counted(calls, "check", "check", category, input_schema=Value, output_schema=Category)
    arms = {
        name: counted(
            calls, name, name, constant({"result": name}), input_schema=Category, output_schema=Result
        )
        for name in ("low", "medium", "high")
    }
    return (
        create_workflow(workflow_id, input_schema=Value, output_schema=Result)
        .then(check)
        .branch(
            [
                (lambda ctx: ctx.input_data["category"] < 33, arms["low"]),
                (lambda ctx: 33 <= ctx.input_data["category"] < 66, arms["medium"]),
                (lambda ctx: ctx.input_data["category"] >= 66, arms["high"]),
            ]
        )
        .commit()
    )


async def test_should_handle_three_way_branching_low_path(harness: Harness, calls: Calls) -> None:
    """branching #3: should handle three-way branching - low path."""
    workflow = three_way_workflow(calls, "branch-threeway-low")

    result = await harness.execute(workflow, {"value": 10})

    assert (calls["check"], calls["low"], calls["medium"], calls["high"]) == (1, 1, 0, 0)
    assert result.status == "success"
    assert result.steps["low"].output == {"result": "low"}
    assert result.result == {"low": {"result": "low"}}


async def test_should_handle_three_way_branching_medium_path(harness: Harness, calls: Calls) -> None:
    """branching #4: should handle three-way branching - medium path."""
    workflow = three_way_workflow(calls, "branch-threeway-medium")

    result = await harness.execute(workflow, {"value": 50})

    assert (calls["check"], calls["low"], calls["medium"], calls["high"]) == (1, 0, 1, 0)
    assert result.status == "success"
    assert result.steps["medium"].output == {"result": "medium"}
    assert result.result == {"medium": {"result": "medium"}}


async def test_should_handle_three_way_branching_high_path(harness: Harness, calls: Calls) -> None:
    """branching #5: should handle three-way branching - high path."""
    workflow = three_way_workflow(calls, "branch-threeway-high")

    result = await harness.execute(workflow, {"value": 80})

    assert (calls["check"], calls["low"], calls["medium"], calls["high"]) == (1, 0, 0, 1)
    assert result.status == "success"
    assert result.steps["high"].output == {"result": "high"}
    assert result.result == {"high": {"result": "high"}}


def data_passing_workflow(calls: Calls, workflow_id: str) -> Any:
    """initial -> branch(flag is True: truePath, flag is False: falsePath)."""

    async def initial_fn(ctx: Any) -> dict[str, Any]:
        raw = ctx.input_data["rawValue"]
        return {"processedValue": raw * 2, "flag": raw > 50}

    async def true_fn(ctx: Any) -> dict[str, Any]:
        data = ctx.input_data
        return {"final": f"processed: {data['processedValue']}, flag: {str(data['flag']).lower()}"}

    async def false_fn(ctx: Any) -> dict[str, Any]:
        return {"final": f"small: {ctx.input_data['processedValue']}"}

    initial = counted(calls, "initial", "initial", initial_fn, input_schema=Raw, output_schema=Processed)
    true_path = counted(calls, "truePath", "truePath", true_fn, input_schema=Processed, output_schema=Final)
    false_path = counted(
        calls, "falsePath", "falsePath", false_fn, input_schema=Processed, output_schema=Final
    )
    return (
        create_workflow(workflow_id, input_schema=Raw, output_schema=Final)
        .then(initial)
        .branch(
            [
                (lambda ctx: ctx.input_data["flag"] is True, true_path),
                (lambda ctx: ctx.input_data["flag"] is False, false_path),
            ]
        )
        .commit()
    )


async def test_should_pass_correct_data_to_selected_branch_true_path(harness: Harness, calls: Calls) -> None:
    """branching #6: should pass correct data to selected branch - true path."""
    workflow = data_passing_workflow(calls, "branch-data-passing-true")

    result = await harness.execute(workflow, {"rawValue": 100})

    assert (calls["initial"], calls["truePath"], calls["falsePath"]) == (1, 1, 0)
    assert result.status == "success"
    assert result.steps["initial"].output == {"processedValue": 200, "flag": True}
    assert result.steps["truePath"].output == {"final": "processed: 200, flag: true"}
    assert calls.inputs["truePath"] == [{"processedValue": 200, "flag": True}]


def nested_conditions_workflow(calls: Calls) -> Any:
    """first-step -> branch(false: wf-a, true: wf-b) -> last-step.

    wf-b = start -> branch(true: nested wf c (other), false: nested wf d (other))
    -> map-results -> final. ``final`` reads ``other`` with get_step_result in
    wf-b, where ``other`` did not run (it ran one level deeper), so it counts 0.
    """

    async def other_fn(ctx: Any) -> dict[str, Any]:
        return {"newValue": ctx.input_data.get("newValue") or 0, "other": 26}

    async def map_results_fn(ctx: Any) -> dict[str, Any]:
        arm = ctx.input_data.get("branch-nested-wf-c") or ctx.input_data.get("branch-nested-wf-d") or {}
        return {"newValue": arm.get("newValue", 0), "other": arm.get("other", 0)}

    start = counted(calls, "start", "start", increment_start, input_schema=StartValue, output_schema=NewValue)
    other = counted(calls, "other", "other", other_fn, input_schema=NewValue, output_schema=OtherAndNew)
    final_options: dict[str, Any] = {"input_schema": MaybeOtherAndNew, "output_schema": FinalValue}
    final_a = counted(calls, "final", "final", sum_of_start_and_other(start, other), **final_options)
    final_b = counted(calls, "final", "final", sum_of_start_and_other(start, other), **final_options)
    first = counted(calls, "first", "first-step", constant({"success": True}), input_schema=StartValue)
    last = counted(calls, "last", "last-step", constant({"success": True}), output_schema=Success)
    map_results = create_step("map-results", execute=map_results_fn, output_schema=OtherAndNew)

    def level(workflow_id: str, input_schema: type[BaseModel], output_schema: type[BaseModel]) -> Any:
        return create_workflow(
            workflow_id, input_schema=input_schema, output_schema=output_schema, validate_inputs=False
        )

    wf_a = level("branch-nested-wf-a", StartValue, FinalValue).then(start).then(other).then(final_a).commit()
    wf_c = level("branch-nested-wf-c", NewValue, OtherAndNew).then(other).commit()
    wf_d = level("branch-nested-wf-d", NewValue, OtherAndNew).then(other).commit()
    wf_b = (
        level("branch-nested-wf-b", StartValue, FinalValue)
        .then(start)
        .branch([(lambda ctx: True, wf_c), (lambda ctx: False, wf_d)])
        .then(map_results)
        .then(final_b)
        .commit()
    )
    return (
        level("branch-nested-conditions", StartValue, Success)
        .then(first)
        .branch([(lambda ctx: False, wf_a), (lambda ctx: True, wf_b)])
        .then(last)
        .commit()
    )


async def test_should_execute_nested_else_and_if_branch(harness: Harness, calls: Calls) -> None:
    """branching #7: should execute nested else and if-branch.

    The top branch takes wf-b (else); wf-b's own branch takes wf-c (if).
    ``start`` gets first-step's ``{success: true}`` (validate_inputs off), so
    newValue is 1, and the run's final value is 1 + 0.
    """
    workflow = nested_conditions_workflow(calls)

    result = await harness.execute(workflow, {"startValue": 1})

    counts = (calls["start"], calls["other"], calls["final"], calls["first"], calls["last"])
    assert counts == (1, 1, 1, 1, 1)
    assert result.status == "success"
    assert result.steps["branch-nested-wf-b"].output == {"finalValue": 1}
    assert "branch-nested-wf-a" not in result.steps
    assert calls.inputs["last"] == [{"branch-nested-wf-b": {"finalValue": 1}}]
    for step_id in ("first-step", "last-step"):
        step_result = result.steps[step_id]
        assert step_result.status == "success"
        assert step_result.output == {"success": True}
        assert isinstance(step_result.started_at, int)
        assert isinstance(step_result.ended_at, int)


async def test_should_pass_correct_data_to_selected_branch_false_path(harness: Harness, calls: Calls) -> None:
    """branching #8: should pass correct data to selected branch - false path."""
    workflow = data_passing_workflow(calls, "branch-data-passing-false")

    result = await harness.execute(workflow, {"rawValue": 25})

    assert (calls["initial"], calls["truePath"], calls["falsePath"]) == (1, 0, 1)
    assert result.status == "success"
    assert result.steps["initial"].output == {"processedValue": 50, "flag": False}
    assert result.steps["falsePath"].output == {"final": "small: 50"}
    assert calls.inputs["falsePath"] == [{"processedValue": 50, "flag": False}]
