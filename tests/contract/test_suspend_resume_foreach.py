"""Suspend and resume inside a foreach (spec: suspend-resume #21-#26).

Every workflow here is ``foreach(map, concurrency=n).then(final)``: ``map`` turns
``{"value": v}`` into ``{"value": v + 11 + resumeValue}``, suspending first when the
test says so, and ``final`` sums the values. A resume with no step resumes every
suspended item of the current batch; ``for_each_index`` and labels name one item.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest.mock import ANY

from pydantic import BaseModel

from workflows_app import create_step, create_workflow

from .conftest import Calls, Harness
from .shapes import Number, items, new_run_id


class ResumeValue(BaseModel):
    resumeValue: int


def always(value: int) -> bool:
    return True


def above_five(value: int) -> bool:
    return value > 5


def foreach_workflow(
    calls: Calls,
    workflow_id: str,
    *,
    concurrency: int = 1,
    suspends: Callable[[int], bool] = always,
    label: Callable[[int], str] | None = None,
) -> Any:
    async def map_execute(ctx: Any) -> Any:
        calls.hit("map", ctx.input_data)
        value = ctx.input_data["value"]
        if ctx.resume_data is None and suspends(value):
            return await ctx.suspend({}, label=label(value) if label else None)
        return {"value": value + 11 + (ctx.resume_data or {}).get("resumeValue", 0)}

    async def final_execute(ctx: Any) -> Any:
        calls.hit("final", ctx.input_data)
        return {"finalValue": sum(item["value"] for item in ctx.input_data)}

    map_step = create_step("map", execute=map_execute, input_schema=Number, resume_schema=ResumeValue)
    final = create_step("final", execute=final_execute)
    return create_workflow(workflow_id).foreach(map_step, concurrency=concurrency).then(final).commit()


SUSPENDED = {"status": "suspended", "suspend_payload": {}}


def done(value: int) -> dict[str, Any]:
    return {"status": "success", "output": {"value": value}}


def progress(*entries: dict[str, Any] | None) -> dict[str, Any]:
    """The foreach's own suspend payload: one entry per item (catalog F rule 3)."""
    return {"__workflow_meta": {"foreach_output": list(entries)}}


async def test_should_suspend_and_resume_in_foreach_loop(harness: Harness, calls: Calls) -> None:
    """suspend-resume #21: should suspend and resume in foreach loop (sequential: one item is suspended
    at a time, and a resume without a step resumes it). The foreach's own record follows catalog M90."""
    workflow = foreach_workflow(calls, "srf-foreach-suspend-workflow")
    run_id = new_run_id("srf-foreach-suspend")

    started = await harness.execute(workflow, items(1, 22, 333), run_id=run_id)

    assert started.status == "suspended"
    assert started.suspended == [["map"]]
    assert started.steps["map"].status == "suspended"
    assert started.steps["map"].suspend_payload == progress(SUSPENDED, None, None)
    assert calls["map"] == 1

    first = await harness.resume(workflow, run_id, {"resumeValue": 0})
    assert first.status == "suspended"
    second = await harness.resume(workflow, run_id, {"resumeValue": 5})
    assert second.status == "suspended"
    third = await harness.resume(workflow, run_id, {"resumeValue": 0})

    assert third.status == "success"
    assert third.steps["map"].to_dict() == {
        "status": "success",
        "payload": items(1, 22, 333),
        "output": items(12, 38, 344),
        "suspend_payload": {"__workflow_meta": ANY},
        "resume_payload": {"resumeValue": 0},
        "started_at": ANY,
        "ended_at": ANY,
        "suspended_at": ANY,
        "resumed_at": ANY,
    }
    assert third.steps["final"].status == "success"
    assert third.steps["final"].output == {"finalValue": 394}
    assert calls["map"] == 6


async def test_should_suspend_and_resume_when_running_concurrent_foreach(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #22: should suspend and resume when running concurrent foreach (one resume without
    a step resumes every suspended item)."""
    workflow = foreach_workflow(
        calls, "srf-foreach-concurrent-suspend-workflow", concurrency=3, suspends=above_five
    )
    run_id = new_run_id("srf-foreach-concurrent")

    started = await harness.execute(workflow, items(22, 1, 333), run_id=run_id)

    assert started.status == "suspended"
    assert started.suspended == [["map"]]
    assert started.steps["map"].status == "suspended"
    assert started.steps["map"].suspend_payload == progress(SUSPENDED, done(12), SUSPENDED)
    assert calls["map"] == 3

    result = await harness.resume(workflow, run_id, {"resumeValue": 5})

    assert result.status == "success"
    assert result.steps["map"].status == "success"
    assert result.steps["map"].output == items(38, 12, 349)
    assert result.steps["final"].status == "success"
    assert result.steps["final"].output == {"finalValue": 399}
    assert calls["map"] == 5


async def test_should_suspend_and_resume_with_for_each_index(harness: Harness, calls: Calls) -> None:
    """suspend-resume #23: should suspend and resume with forEachIndex (the siblings' progress is kept, as in
    catalog X-FS2)."""
    workflow = foreach_workflow(calls, "srf-foreach-index-suspend-workflow", concurrency=3)
    run_id = new_run_id("srf-foreach-index")

    started = await harness.execute(workflow, items(1, 22, 333), run_id=run_id)
    assert started.status == "suspended"

    first = await harness.resume(workflow, run_id, {"resumeValue": 100}, for_each_index=0)
    assert first.status == "suspended"
    assert first.steps["map"].status == "suspended"
    assert first.steps["map"].suspend_payload == progress(done(112), SUSPENDED, SUSPENDED)
    second = await harness.resume(workflow, run_id, {"resumeValue": 200}, for_each_index=1)
    assert second.status == "suspended"
    third = await harness.resume(workflow, run_id, {"resumeValue": 300}, for_each_index=2)

    assert third.status == "success"
    assert third.steps["map"].status == "success"
    assert third.steps["map"].output == items(112, 233, 644)
    assert third.steps["final"].status == "success"
    assert third.steps["final"].output == {"finalValue": 989}
    assert calls["map"] == 6


async def test_should_suspend_and_resume_provided_label_when_running_all_items_concurrency_for_loop(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #24: should suspend and resume provided label when running all items concurrency for
    loop. The spec numbers labels with a counter in execution order; here each item's label comes from its
    value (item i gets foreach-label-i), so the test does not depend on which item starts first."""
    index_of = {1: 0, 22: 1, 333: 2}
    workflow = foreach_workflow(
        calls,
        "srf-foreach-label-suspend-workflow",
        concurrency=3,
        label=lambda v: f"foreach-label-{index_of[v]}",
    )
    run_id = new_run_id("srf-foreach-label")

    started = await harness.execute(workflow, items(1, 22, 333), run_id=run_id)
    assert started.status == "suspended"

    first = await harness.resume(workflow, run_id, {"resumeValue": 5}, label="foreach-label-2")
    assert first.status == "suspended"
    second = await harness.resume(workflow, run_id, {"resumeValue": 0}, label="foreach-label-1")
    assert second.status == "suspended"
    third = await harness.resume(workflow, run_id, {"resumeValue": 3}, label="foreach-label-0")

    assert third.status == "success"
    assert third.steps["map"].status == "success"
    assert third.steps["map"].output == items(15, 33, 349)
    assert third.steps["final"].status == "success"
    assert third.steps["final"].output == {"finalValue": 397}
    assert calls["map"] == 6


async def test_should_suspend_and_resume_when_running_a_partial_item_concurrency_for_loop(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #25: should suspend and resume when running a partial item concurrency for loop
    (the next batch starts only once every item of the current one is done)."""
    workflow = foreach_workflow(
        calls, "srf-foreach-partial-suspend-workflow", concurrency=3, suspends=above_five
    )
    run_id = new_run_id("srf-foreach-partial")

    started = await harness.execute(workflow, items(22, 1, 333, 444, 1000), run_id=run_id)

    assert started.status == "suspended"
    assert calls["map"] == 3

    first = await harness.resume(workflow, run_id, {"resumeValue": 5})

    assert first.status == "suspended"
    assert calls["map"] == 7
    assert calls["final"] == 0

    second = await harness.resume(workflow, run_id, {"resumeValue": 5})

    assert second.status == "success"
    assert second.steps["map"].output == items(38, 12, 349, 460, 1016)
    assert second.steps["final"].status == "success"
    assert second.steps["final"].output == {"finalValue": 1875}
    assert calls["map"] == 9


async def test_should_suspend_and_resume_provided_index_when_running_a_partial_item_concurrency_for_loop(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #26: should suspend and resume provided index when running a partial item concurrency
    for loop."""
    workflow = foreach_workflow(
        calls, "srf-foreach-partial-index-suspend-workflow", concurrency=3, suspends=above_five
    )
    run_id = new_run_id("srf-foreach-partial-index")

    started = await harness.execute(workflow, items(22, 1, 333, 444, 1000), run_id=run_id)
    assert started.status == "suspended"

    for index, resume_value in ((2, 5), (0, 3), (3, 2)):
        resumed = await harness.resume(workflow, run_id, {"resumeValue": resume_value}, for_each_index=index)
        assert resumed.status == "suspended"
    assert calls["final"] == 0

    result = await harness.resume(workflow, run_id, {"resumeValue": 8}, for_each_index=4)

    assert result.status == "success"
    assert result.steps["map"].output == items(36, 12, 349, 457, 1019)
    assert result.steps["final"].status == "success"
    assert result.steps["final"].output == {"finalValue": 1873}
    assert calls["map"] == 9
