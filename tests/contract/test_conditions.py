"""Simple and complex conditions (spec: simple-conditions #1-#5, complex-conditions #1).

A branch runs every arm whose condition holds; a ``.map()`` after it can pick the
value of whichever listed step ran, and a map source naming a step that never
ran must not fail the run. Workflow ids carry the ``cond-`` prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest.mock import ANY

from pydantic import BaseModel

from workflows_app import create_workflow

from .conftest import Calls, Harness
from .shapes import Count, Empty, Result, ValueState, counted


class Status(BaseModel):
    status: str


class Flags(BaseModel):
    isValid: bool


class Scored(BaseModel):
    status: str
    score: int
    flags: Flags


def status_is(expected: str) -> Callable[[Any], bool]:
    """A branch condition on the previous step's ``status`` field."""
    return lambda ctx: bool(ctx.input_data["status"] == expected)


def conditional_chain(calls: Calls, workflow_id: str, *, with_state: bool) -> Any:
    """step1 -> branch(success: step2, failed: step3) -> map(result of step3 or step2) -> step4.

    With ``with_state`` every step also returns the state's ``value``.
    """
    state = {"state_schema": ValueState} if with_state else {}

    def out(ctx: Any, **values: Any) -> dict[str, Any]:
        return {**values, "value": ctx.state["value"]} if with_state else values

    step1 = counted(calls, "step1", lambda ctx: out(ctx, status="success"), input_schema=Status, **state)
    step2 = counted(calls, "step2", lambda ctx: out(ctx, result="step2"), input_schema=Status, **state)
    step3 = counted(calls, "step3", lambda ctx: out(ctx, result="step3"), input_schema=Status, **state)
    step4 = counted(
        calls, "step4", lambda ctx: out(ctx, result=ctx.input_data["result"]), input_schema=Result, **state
    )
    return (
        create_workflow(workflow_id, input_schema=Status, output_schema=Result, **state)
        .then(step1)
        .branch([(status_is("success"), step2), (status_is("failed"), step3)])
        .map({"result": {"step": [step3, step2], "path": "result"}})
        .then(step4)
        .commit()
    )


async def test_should_follow_conditional_chains(harness: Harness, calls: Calls) -> None:
    """simple-conditions #1: should follow conditional chains."""
    workflow = conditional_chain(calls, "cond-follow-chains", with_state=False)

    result = await harness.execute(workflow, {"status": "success"})

    assert (calls["step1"], calls["step2"], calls["step3"]) == (1, 1, 0)
    assert result.status == "success"
    assert result.steps["input"] == {"status": "success"}
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"status": "success"}
    assert result.steps["step2"].status == "success"
    assert result.steps["step2"].output == {"result": "step2"}
    assert "step3" not in result.steps
    assert result.steps["step4"].status == "success"
    assert result.steps["step4"].output == {"result": "step2"}


async def test_should_follow_conditional_chains_with_state(harness: Harness, calls: Calls) -> None:
    """simple-conditions #2: should follow conditional chains with state."""
    workflow = conditional_chain(calls, "cond-chains-with-state", with_state=True)

    result = await harness.execute(workflow, {"status": "success"}, initial_state={"value": "test-state"})

    assert (calls["step1"], calls["step2"], calls["step3"]) == (1, 1, 0)
    assert result.status == "success"
    assert result.steps["input"] == {"status": "success"}
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"status": "success", "value": "test-state"}
    assert result.steps["step2"].status == "success"
    assert result.steps["step2"].output == {"result": "step2", "value": "test-state"}
    assert result.steps["step4"].status == "success"
    assert result.steps["step4"].output == {"result": "step2", "value": "test-state"}


async def test_should_handle_failing_dependencies(harness: Harness, calls: Calls) -> None:
    """simple-conditions #3: should handle failing dependencies.

    The spec wraps execute in try/catch; ours must not raise at all: the run
    resolves as failed and step2, which depends on step1, never runs.
    """

    def fail(ctx: Any) -> Any:
        raise RuntimeError("Failed")

    step1 = counted(calls, "step1", fail, input_schema=Empty, output_schema=Empty)
    step2 = counted(calls, "step2", lambda ctx: {}, input_schema=Empty, output_schema=Empty)
    workflow = create_workflow("cond-failing-deps", input_schema=Empty).then(step1).then(step2).commit()

    result = await harness.execute(workflow, {})

    assert (calls["step1"], calls["step2"]) == (1, 0)
    assert result.status == "failed"
    assert result.steps["input"] == {}
    step1_result = result.steps["step1"]
    assert step1_result.status == "failed"
    assert step1_result.payload == {}
    assert isinstance(step1_result.started_at, int)
    assert isinstance(step1_result.ended_at, int)
    assert isinstance(step1_result.error, Exception)
    assert str(step1_result.error) == "Failed"
    assert "step2" not in result.steps


async def test_should_support_simple_string_conditions(harness: Harness, calls: Calls) -> None:
    """simple-conditions #4: should support simple string conditions.

    The map reads step3, which never ran: with validate_inputs off the run still
    succeeds, the second branch's condition is false and step3 stays unrun.
    step1's payload is the raw workflow input (validate_inputs off: nothing is
    stripped; the spec's partial match on ``payload: {}`` accepts that).
    """
    step1 = counted(calls, "step1", lambda ctx: {"status": "success"}, input_schema=Empty)
    step2 = counted(calls, "step2", lambda ctx: {"result": "step2"}, input_schema=Status)
    step3 = counted(calls, "step3", lambda ctx: {"result": "step3"}, input_schema=Result)
    workflow = (
        create_workflow("cond-simple-string", input_schema=Empty, validate_inputs=False)
        .then(step1)
        .branch([(status_is("success"), step2)])
        .map({"result": {"step": step3, "path": "result"}})
        .branch([(lambda ctx: ctx.input_data.get("result") == "unexpected value", step3)])
        .commit()
    )

    result = await harness.execute(workflow, {"status": "success"})

    assert (calls["step1"], calls["step2"], calls["step3"]) == (1, 1, 0)
    assert result.status == "success"
    assert result.steps["input"] == {"status": "success"}
    assert result.steps["step1"].to_dict() == {
        "status": "success",
        "output": {"status": "success"},
        "payload": {"status": "success"},
        "started_at": ANY,
        "ended_at": ANY,
    }
    assert result.steps["step2"].to_dict() == {
        "status": "success",
        "output": {"result": "step2"},
        "payload": {"status": "success"},
        "started_at": ANY,
        "ended_at": ANY,
    }
    assert isinstance(result.steps["step2"].started_at, int)
    assert isinstance(result.steps["step2"].ended_at, int)
    assert "step3" not in result.steps


async def test_should_support_custom_condition_functions(harness: Harness, calls: Calls) -> None:
    """simple-conditions #5: should support custom condition functions (via get_step_result)."""
    step1 = counted(calls, "step1", lambda ctx: {"count": 5}, input_schema=Empty, output_schema=Count)
    step2 = counted(calls, "step2", lambda ctx: None, input_schema=Count, output_schema=Empty)

    async def count_above_three(ctx: Any) -> bool:
        step1_output = await ctx.get_step_result(step1)
        return step1_output is not None and step1_output["count"] > 3

    workflow = (
        create_workflow("cond-custom-function", input_schema=Empty, validate_inputs=False)
        .then(step1)
        .branch([(count_above_three, step2)])
        .commit()
    )

    result = await harness.execute(workflow, {"count": 5})

    assert calls["step2"] == 1
    assert result.status == "success"
    assert result.steps["step1"].to_dict() == {
        "status": "success",
        "output": {"count": 5},
        "payload": {"count": 5},
        "started_at": ANY,
        "ended_at": ANY,
    }
    step2_result = result.steps["step2"]
    assert step2_result.status == "success"
    assert step2_result.payload == {"count": 5}
    assert isinstance(step2_result.started_at, int)
    assert isinstance(step2_result.ended_at, int)
    assert step2_result.output is None


async def test_should_handle_nested_and_or_conditions(harness: Harness, calls: Calls) -> None:
    """complex-conditions #1: should handle nested AND/OR conditions.

    The final map reads step3, which never ran; the run still succeeds.
    """
    scored = {"status": "partial", "score": 75, "flags": {"isValid": True}}
    step1 = counted(calls, "step1", lambda ctx: scored, input_schema=Empty, output_schema=Scored)
    step2 = counted(calls, "step2", lambda ctx: {"result": "step2"}, input_schema=Scored)
    step3 = counted(calls, "step3", lambda ctx: {"result": "step3"}, input_schema=Result)

    async def success_or_good_partial(ctx: Any) -> bool:
        first = await ctx.get_step_result(step1) or {}
        return bool(
            first.get("status") == "success" or (first.get("status") == "partial" and first["score"] >= 70)
        )

    async def no_result_or_low_score(ctx: Any) -> bool:
        first = await ctx.get_step_result(step1) or {}
        return not ctx.input_data.get("result") or first.get("score", 0) < 70

    workflow = (
        create_workflow("cond-complex-nested-and-or", input_schema=Empty)
        .then(step1)
        .branch([(success_or_good_partial, step2)])
        .map({"result": {"step": step2, "path": "result"}})
        .branch([(no_result_or_low_score, step3)])
        .map({"result": {"step": step3, "path": "result"}})
        .commit()
    )

    result = await harness.execute(workflow, {})

    assert (calls["step1"], calls["step2"], calls["step3"]) == (1, 1, 0)
    assert result.status == "success"
    assert result.steps["step2"].to_dict() == {
        "status": "success",
        "output": {"result": "step2"},
        "payload": scored,
        "started_at": ANY,
        "ended_at": ANY,
    }
    assert isinstance(result.steps["step2"].started_at, int)
    assert "step3" not in result.steps
