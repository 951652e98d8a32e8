"""clone_step and clone_workflow (spec: clone #1-#2).

The spec runs #1 only on engines that opt in; both clone functions exist in our
API, so both tests run on every engine.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

from pydantic import BaseModel

from workflows_app import clone_step, clone_workflow, create_step, create_workflow

from .conftest import Calls, Harness
from .shapes import NewValue


class Start(BaseModel):
    startValue: int


class FinalIn(BaseModel):
    newValue: int | None = None
    other: int | None = None


class Final(BaseModel):
    finalValue: int


def counted(calls: Calls, name: str, step_id: str, fn: Any, **options: Any) -> Any:
    """A step whose user code is counted under ``name``; ``fn(ctx)`` may be async."""

    async def execute(ctx: Any) -> Any:
        calls.hit(name, ctx.input_data)
        value = fn(ctx)
        return await value if hasattr(value, "__await__") else value

    return create_step(step_id, execute=execute, **options)


def start_step(calls: Calls) -> Any:
    return counted(
        calls,
        "start",
        "start",
        lambda ctx: {"newValue": (ctx.input_data["startValue"] or 0) + 1},
        input_schema=Start,
        output_schema=NewValue,
    )


def final_step(calls: Calls, other_id: str) -> Any:
    async def total(ctx: Any) -> Any:
        start = await ctx.get_step_result("start") or {}
        other = await ctx.get_step_result(other_id) or {}
        return {"finalValue": start.get("newValue", 0) + other.get("other", 0)}

    return counted(calls, "final", "final", total, input_schema=FinalIn, output_schema=Final)


async def test_should_be_able_to_clone_workflows_as_steps(harness: Harness, calls: Calls) -> None:
    """clone #1: should be able to clone workflows as steps."""
    start = start_step(calls)
    other = counted(calls, "other", "other", lambda ctx: {"other": 26}, input_schema=NewValue)
    nested_a = (
        create_workflow("clone-nested-wf-a", input_schema=Start, output_schema=Final, validate_inputs=False)
        .then(start)
        .then(clone_step(other, id="other-clone"))
        .then(final_step(calls, "other-clone"))
        .commit()
    )
    final_b = create_step(
        "final-b", execute=lambda ctx: {"finalValue": ctx.input_data["newValue"]}, input_schema=NewValue
    )
    nested_b = (
        create_workflow("clone-nested-wf-b", input_schema=Start, output_schema=Final, validate_inputs=False)
        .then(start)
        .then(final_b)
        .commit()
    )
    nested_a_clone = clone_workflow(nested_a, id="clone-nested-wf-a-clone")
    last = counted(calls, "last", "last-step", lambda ctx: {"success": True})
    workflow = (
        create_workflow("clone-workflow-test", input_schema=Start, validate_inputs=False)
        .parallel([nested_a_clone, nested_b])
        .then(last)
        .commit()
    )
    result = await harness.execute(workflow, {"startValue": 0})
    assert result.status == "success"
    assert (calls["start"], calls["other"], calls["final"], calls["last"]) == (2, 1, 1, 1)
    assert result.steps["clone-nested-wf-a-clone"].status == "success"
    assert result.steps["clone-nested-wf-a-clone"].output == {"finalValue": 27}
    assert result.steps["clone-nested-wf-b"].status == "success"
    assert result.steps["clone-nested-wf-b"].output == {"finalValue": 1}
    assert "clone-nested-wf-a" not in result.steps
    assert calls.inputs["last"] == [
        {"clone-nested-wf-a-clone": {"finalValue": 27}, "clone-nested-wf-b": {"finalValue": 1}}
    ]


async def test_should_be_able_to_spec_out_workflow_result_via_variables(
    harness: Harness, calls: Calls
) -> None:
    """clone #2: should be able to spec out workflow result via variables (the nested workflow's
    output_schema is the next step's input_schema)."""
    other = counted(calls, "other", "other", lambda ctx: {"other": 26}, input_schema=NewValue)
    nested = (
        create_workflow(
            "clone-nested-spec-workflow", input_schema=Start, output_schema=Final, validate_inputs=False
        )
        .then(start_step(calls))
        .then(other)
        .then(final_step(calls, "other"))
        .commit()
    )
    last = counted(
        calls, "last", "last-step", lambda ctx: {"success": True}, input_schema=nested.output_schema
    )
    workflow = (
        create_workflow("clone-spec-result-workflow", input_schema=Start, validate_inputs=False)
        .then(nested)
        .then(last)
        .commit()
    )
    result = await harness.execute(workflow, {"startValue": 0})
    assert result.status == "success"
    assert (calls["start"], calls["other"], calls["final"], calls["last"]) == (1, 1, 1, 1)
    assert result.steps["clone-nested-spec-workflow"].status == "success"
    assert result.steps["clone-nested-spec-workflow"].output == {"finalValue": 27}
    assert result.steps["last-step"].to_dict() == {
        "status": "success",
        "output": {"success": True},
        "payload": {"finalValue": 27},
        "started_at": ANY,
        "ended_at": ANY,
    }
