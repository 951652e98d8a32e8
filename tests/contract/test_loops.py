"""Loops: dountil and dowhile (spec: loops #1-#4).

The body runs before the first check, each iteration's output is the next
iteration's input, and the body's step entry reflects its last iteration.
As the spec advises, the tests check outputs rather than call counts.
Workflow ids carry the ``loops-`` prefix.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from workflows_app import Step, create_step, create_workflow

from .conftest import Harness
from .processes import shared_list
from .shapes import Count, FinalValue, Value


class Counter(BaseModel):
    value: int
    target: int


class MaybeItems(BaseModel):
    items: list[str] | None = None
    count: int | None = None


class Items(BaseModel):
    items: list[str]
    count: int


def counter_steps() -> tuple[Step, Step]:
    """``increment`` adds one to ``value``; ``final`` reports the value it is given."""
    increment = create_step(
        "increment",
        execute=lambda ctx: {"value": ctx.input_data["value"] + 1},
        input_schema=Counter,
        output_schema=Value,
    )
    final = create_step(
        "final",
        execute=lambda ctx: {"finalValue": ctx.input_data["value"]},
        input_schema=Value,
        output_schema=FinalValue,
    )
    return increment, final


def counter_workflow(workflow_id: str) -> Any:
    """A builder for the counter workflows (validate_inputs off: later iterations lack ``target``)."""
    return create_workflow(workflow_id, input_schema=Counter, output_schema=FinalValue, validate_inputs=False)


def assert_counted_to_twelve(result: Any) -> None:
    assert result.status == "success"
    assert result.result == {"finalValue": 12}
    assert result.steps["increment"].output == {"value": 12}
    assert result.steps["final"].status == "success"
    assert result.steps["final"].output == {"finalValue": 12}


async def test_should_run_an_until_loop(harness: Harness) -> None:
    """loops #1: should run an until loop."""
    increment, final = counter_steps()
    workflow = (
        counter_workflow("loops-until-counter")
        .dountil(increment, lambda ctx: (ctx.input_data.get("value") or 0) >= 12)
        .then(final)
        .commit()
    )

    result = await harness.execute(workflow, {"target": 10, "value": 0})

    assert_counted_to_twelve(result)


async def test_should_run_a_while_loop(harness: Harness) -> None:
    """loops #2: should run a while loop."""
    increment, final = counter_steps()
    workflow = (
        counter_workflow("loops-while-counter")
        .dowhile(increment, lambda ctx: (ctx.input_data.get("value") or 0) < 12)
        .then(final)
        .commit()
    )

    result = await harness.execute(workflow, {"target": 10, "value": 0})

    assert_counted_to_twelve(result)


async def test_should_exit_loop_immediately_when_condition_is_already_met(harness: Harness) -> None:
    """loops #3: should exit loop immediately when condition is already met.

    dowhile checks after the body: with count 10 the body still runs once.
    """
    bodies: list[Any] = shared_list()

    def step1_fn(ctx: Any) -> dict[str, Any]:
        bodies.append(ctx.input_data)
        return {"count": ctx.input_data["count"] + 1}

    step1 = create_step("step1", execute=step1_fn, input_schema=Count, output_schema=Count)
    workflow = (
        create_workflow("loops-immediate-exit", input_schema=Count, output_schema=Count)
        .dowhile(step1, lambda ctx: ctx.input_data["count"] < 10)
        .commit()
    )

    result = await harness.execute(workflow, {"count": 10})

    assert result.status == "success"
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"count": 11}
    assert bodies == [{"count": 10}]


async def test_should_accumulate_data_across_loop_iterations(harness: Harness) -> None:
    """loops #4: should accumulate data across loop iterations."""

    def accumulate_fn(ctx: Any) -> dict[str, Any]:
        items = list(ctx.input_data.get("items") or [])
        return {"items": [*items, f"item-{len(items) + 1}"], "count": (ctx.input_data.get("count") or 0) + 1}

    accumulate = create_step(
        "accumulate", execute=accumulate_fn, input_schema=MaybeItems, output_schema=Items
    )
    workflow = (
        create_workflow("loops-accumulate", output_schema=Items, validate_inputs=False)
        .dountil(accumulate, lambda ctx: (ctx.input_data.get("count") or 0) >= 3)
        .commit()
    )

    result = await harness.execute(workflow, {})

    assert result.status == "success"
    assert result.result["count"] == 3
    assert result.result["items"] == ["item-1", "item-2", "item-3"]
