"""foreach (spec: foreach #1-#11).

``.foreach(step, concurrency=n)`` runs ``step`` once per item of the previous
output, ``n`` items at a time (1 by default), and shows as one step whose payload
is the list and whose output is the list of item outputs, in input order.

The spec measures concurrency with wall-clock durations (#1-#3); the newest stored
version of #3 counts simultaneous executions instead, and we do that for all three:
a ``ConcurrencyTracker`` holds each execution until the expected number of items
run side by side, so a wrong engine fails on the count, never on a clock.
Workflow ids carry the ``foreach-`` prefix.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from unittest.mock import ANY

from pydantic import BaseModel, RootModel

from workflows_app import create_step, create_workflow
from workflows_app.testing import awaituntil

from .conftest import Calls, Harness
from .processes import shared_list
from .shapes import Count, Number, items


class Numbers(RootModel[list[Number]]):
    pass


class Score(BaseModel):
    name: str
    score: int


class Integers(RootModel[list[int]]):
    pass


class Integer(RootModel[int]):
    pass


class OutputState(BaseModel):
    output: int


class ConcurrencyTracker:
    """Counts how many executions of a step run at the same moment.

    The k-th execution to start waits until every execution of its group of
    ``width`` has started (the last group may be short), so executions that the
    engine runs side by side are seen side by side however fast the step is; an
    engine that runs fewer than ``width`` at once leaves them waiting until
    ``awaituntil`` gives up.
    """

    def __init__(self, width: int, total: int) -> None:
        self.width = width
        self.total = total
        self.log: list[str] = shared_list()

    @property
    def started(self) -> int:
        return sum(1 for entry in self.log if entry.startswith("start"))

    @property
    def peak(self) -> int:
        running = peak = 0
        for entry in self.log:
            running += 1 if entry.startswith("start") else -1
            peak = max(peak, running)
        return peak

    @asynccontextmanager
    async def hold(self, item: int) -> AsyncIterator[None]:
        self.log.append(f"start {item}")
        position = [entry for entry in self.log if entry.startswith("start")].index(f"start {item}") + 1
        group_end = min(self.total, -(-position // self.width) * self.width)
        try:
            await awaituntil(lambda: self.started >= group_end)
            yield
        finally:
            self.log.append(f"end {item}")


def plus_eleven_workflow(
    calls: Calls, workflow_id: str, *, concurrency: int = 1, tracker: ConcurrencyTracker | None = None
) -> Any:
    """``foreach(map, concurrency).then(final)``: map adds 11 to each value, final sums them."""

    async def map_execute(ctx: Any) -> Any:
        calls.hit("map", ctx.input_data)
        value = ctx.input_data["value"]
        if tracker is None:
            return {"value": value + 11}
        async with tracker.hold(value):
            return {"value": value + 11}

    async def final_execute(ctx: Any) -> Any:
        calls.hit("final", ctx.input_data)
        return {"finalValue": sum(item["value"] for item in ctx.input_data)}

    map_step = create_step("map", execute=map_execute, input_schema=Number, output_schema=Number)
    final = create_step("final", execute=final_execute, input_schema=Numbers)
    return (
        create_workflow(workflow_id, input_schema=Numbers, validate_inputs=False)
        .foreach(map_step, concurrency=concurrency)
        .then(final)
        .commit()
    )


def progress_events(harness: Harness, step_id: str) -> list[dict[str, Any]]:
    return [
        event["payload"]
        for event in harness.events
        if event["type"] == "workflow-step-progress" and event["payload"].get("id") == step_id
    ]


async def test_should_run_a_single_item_concurrency_default_for_loop(harness: Harness, calls: Calls) -> None:
    """foreach #1: should run a single item concurrency (default) for loop.

    The version with payloads (9e056b8) is asserted; "sequential" is checked by the
    tracker (never two items at once, each ending before the next starts), not by time.
    """
    tracker = ConcurrencyTracker(width=1, total=3)
    workflow = plus_eleven_workflow(calls, "foreach-single-concurrency", tracker=tracker)
    result = await harness.execute(workflow, items(1, 22, 333))
    assert result.status == "success"
    assert calls["map"] == 3
    assert tracker.peak == 1
    assert tracker.log == ["start 1", "end 1", "start 22", "end 22", "start 333", "end 333"]
    assert result.steps["input"] == items(1, 22, 333)
    assert result.steps["map"].to_dict() == {
        "status": "success",
        "output": items(12, 33, 344),
        "payload": items(1, 22, 333),
        "started_at": ANY,
        "ended_at": ANY,
    }
    assert result.steps["final"].to_dict() == {
        "status": "success",
        "output": {"finalValue": 12 + 33 + 344},
        "payload": items(12, 33, 344),
        "started_at": ANY,
        "ended_at": ANY,
    }


async def test_should_run_a_concurrent_for_loop(harness: Harness, calls: Calls) -> None:
    """foreach #2: should run a concurrent for loop (concurrency 3: all three items at once)."""
    tracker = ConcurrencyTracker(width=3, total=3)
    workflow = plus_eleven_workflow(calls, "foreach-concurrent", concurrency=3, tracker=tracker)
    result = await harness.execute(workflow, items(1, 22, 333))
    assert result.status == "success"
    assert tracker.peak == 3
    assert result.steps["map"].status == "success"
    assert result.steps["map"].output == items(12, 33, 344)
    assert result.steps["final"].status == "success"
    assert result.steps["final"].output == {"finalValue": 389}


async def test_should_run_a_partial_concurrency_for_loop(harness: Harness, calls: Calls) -> None:
    """foreach #3: should run a partial concurrency for loop.

    Newest version: the peak of simultaneous executions is exactly 2 (4 items, concurrency 2).
    """
    tracker = ConcurrencyTracker(width=2, total=4)
    workflow = plus_eleven_workflow(calls, "foreach-partial-concurrency", concurrency=2, tracker=tracker)
    result = await harness.execute(workflow, items(1, 2, 3, 4))
    assert result.status == "success"
    assert calls["map"] == 4
    assert tracker.peak == 2
    assert result.steps["map"].status == "success"
    assert result.steps["map"].output == items(12, 13, 14, 15)
    assert result.steps["final"].status == "success"
    assert result.steps["final"].output == {"finalValue": 12 + 13 + 14 + 15}


async def test_should_handle_empty_array_in_foreach(harness: Harness, calls: Calls) -> None:
    """foreach #4: should handle empty array in foreach (the body never runs; the next step gets [])."""

    async def map_execute(ctx: Any) -> Any:
        calls.hit("map", ctx.input_data)
        return {"value": 100}

    async def final_execute(ctx: Any) -> Any:
        calls.hit("final", ctx.input_data)
        return {"count": len(ctx.input_data)}

    workflow = (
        create_workflow("foreach-empty-array", input_schema=Numbers, validate_inputs=False)
        .foreach(create_step("map", execute=map_execute, input_schema=Number))
        .then(create_step("final", execute=final_execute, input_schema=Numbers, output_schema=Count))
        .commit()
    )
    result = await harness.execute(workflow, [])
    assert result.status == "success"
    assert calls["map"] == 0
    assert calls.inputs["final"] == [[]]
    assert result.steps["map"].status == "success"
    assert result.steps["map"].output == []
    assert result.steps["final"].status == "success"
    assert result.steps["final"].output == {"count": 0}


async def test_should_chain_steps_before_foreach_and_aggregate_results_after(
    harness: Harness, calls: Calls
) -> None:
    """foreach #5: should chain steps before foreach and aggregate results after."""

    async def generate(ctx: Any) -> Any:
        return [{"value": i + 1} for i in range(ctx.input_data["count"])]

    async def transform(ctx: Any) -> Any:
        calls.hit("transform", ctx.input_data)
        return {"doubled": ctx.input_data["value"] * 2}

    async def total(ctx: Any) -> Any:
        return {"total": sum(item["doubled"] for item in ctx.input_data)}

    workflow = (
        create_workflow("foreach-chained", input_schema=Count)
        .then(create_step("generate", execute=generate, input_schema=Count, output_schema=Numbers))
        .foreach(create_step("transform", execute=transform, input_schema=Number))
        .then(create_step("sum", execute=total))
        .commit()
    )
    result = await harness.execute(workflow, {"count": 3})
    assert result.status == "success"
    assert calls["transform"] == 3
    assert result.steps["generate"].status == "success"
    assert result.steps["generate"].output == items(1, 2, 3)
    assert result.steps["transform"].status == "success"
    assert result.steps["transform"].output == [{"doubled": 2}, {"doubled": 4}, {"doubled": 6}]
    assert result.steps["sum"].status == "success"
    assert result.steps["sum"].output == {"total": 12}


async def test_should_update_state_after_each_concurrent_batch_in_foreach_step(
    harness: Harness, calls: Calls
) -> None:
    """foreach #6: should update state after each concurrent batch in foreach step.

    Each item goes through a nested workflow that branches to one of two
    sub-workflows; the state the first item writes is what the second item reads.
    """

    async def s1s(ctx: Any) -> Any:
        calls.hit("s1s", ctx.state["output"])
        return ctx.input_data

    async def s2s(ctx: Any) -> Any:
        calls.hit("s2s", ctx.state["output"])
        await ctx.set_state({"output": 2})
        return ctx.input_data

    def sub_workflow(workflow_id: str, step_id: str, execute: Any) -> Any:
        inner = create_step(
            step_id, execute=execute, input_schema=Integer, output_schema=Integer, state_schema=OutputState
        )
        return (
            create_workflow(
                workflow_id, input_schema=Integer, output_schema=Integer, state_schema=OutputState
            )
            .then(inner)
            .commit()
        )

    def is_value(expected: int) -> Any:
        async def condition(ctx: Any) -> bool:
            return bool(ctx.input_data == expected)

        return condition

    def add_arms(ctx: Any) -> int:
        arms = ctx.input_data
        return int(arms.get("foreach-state-s1") or 0) + int(arms.get("foreach-state-s2") or 0)

    routing = (
        create_workflow("foreach-state-routing", input_schema=Integer, state_schema=OutputState)
        .branch(
            [
                (is_value(1), sub_workflow("foreach-state-s1", "s1s", s1s)),
                (is_value(2), sub_workflow("foreach-state-s2", "s2s", s2s)),
            ]
        )
        .map(add_arms)
        .commit()
    )
    workflow = create_workflow("foreach-state-batch", state_schema=OutputState).foreach(routing).commit()
    result = await harness.execute(workflow, [2, 1], initial_state={"output": 0}, include_state=True)
    assert result.status == "success"
    assert calls.inputs["s2s"] == [0]
    assert calls.inputs["s1s"] == [2]
    assert result.state == {"output": 2}
    assert result.result == [2, 1]


async def test_should_bail_foreach_execution_when_called_in_a_concurrent_batch(
    harness: Harness, calls: Calls
) -> None:
    """foreach #7: should bail foreach execution when called in a concurrent batch.

    bail() in one item ends the whole run as a success with the bail value as result.
    """

    async def bail_step(ctx: Any) -> Any:
        calls.hit("bail-step", ctx.input_data)
        if ctx.state["output"] > 1:
            return await ctx.bail([15])
        await ctx.set_state({"output": ctx.input_data})
        return ctx.input_data

    step = create_step(
        "bail-step", execute=bail_step, input_schema=Integer, output_schema=Integer, state_schema=OutputState
    )
    workflow = create_workflow("foreach-bail", state_schema=OutputState).foreach(step).commit()
    result = await harness.execute(workflow, [1, 2, 3, 4], initial_state={"output": 0}, include_state=True)
    assert result.status == "success"
    assert result.state is not None
    assert result.state["output"] == 2
    assert result.result == [15]
    assert calls.inputs["bail-step"] == [1, 2, 3]


async def test_should_aggregate_results_correctly_from_foreach_iterations(
    harness: Harness, calls: Calls
) -> None:
    """foreach #8: should aggregate results correctly from foreach iterations."""

    async def process(ctx: Any) -> Any:
        calls.hit("process", ctx.input_data)
        return {"name": ctx.input_data["name"].upper(), "score": ctx.input_data["score"] * 10}

    async def aggregate(ctx: Any) -> Any:
        return {
            "names": [item["name"] for item in ctx.input_data],
            "totalScore": sum(item["score"] for item in ctx.input_data),
            "count": len(ctx.input_data),
        }

    workflow = (
        create_workflow("foreach-aggregate", validate_inputs=False)
        .foreach(create_step("process", execute=process, input_schema=Score, output_schema=Score))
        .then(create_step("aggregate", execute=aggregate))
        .commit()
    )
    people = [{"name": "alice", "score": 5}, {"name": "bob", "score": 3}, {"name": "charlie", "score": 7}]
    result = await harness.execute(workflow, people)
    assert result.status == "success"
    assert calls["process"] == 3
    assert result.steps["process"].status == "success"
    assert result.steps["process"].output == [
        {"name": "ALICE", "score": 50},
        {"name": "BOB", "score": 30},
        {"name": "CHARLIE", "score": 70},
    ]
    assert result.steps["aggregate"].status == "success"
    assert result.steps["aggregate"].output == {
        "names": ["ALICE", "BOB", "CHARLIE"],
        "totalScore": 150,
        "count": 3,
    }


async def test_should_emit_per_iteration_progress_events_during_foreach_streaming(
    harness: Harness, calls: Calls
) -> None:
    """foreach #9: should emit per-iteration progress events during foreach streaming."""
    workflow = plus_eleven_workflow(calls, "foreach-progress")
    result = await harness.execute(workflow, items(1, 22, 333))
    assert progress_events(harness, "map") == [
        {
            "id": "map",
            "completed_count": index + 1,
            "total_count": 3,
            "current_index": index,
            "iteration_status": "success",
        }
        for index in range(3)
    ]
    assert result.steps["map"].status == "success"
    assert result.steps["map"].output == items(12, 33, 344)


async def test_should_emit_per_iteration_progress_events_with_concurrency_during_foreach_streaming(
    harness: Harness, calls: Calls
) -> None:
    """foreach #10: should emit per-iteration progress events with concurrency during foreach streaming."""
    tracker = ConcurrencyTracker(width=2, total=3)
    workflow = plus_eleven_workflow(calls, "foreach-progress-concurrent", concurrency=2, tracker=tracker)
    result = await harness.execute(workflow, items(1, 22, 333))
    assert result.status == "success"
    assert tracker.peak == 2
    events = progress_events(harness, "map")
    assert len(events) == 3
    assert all(event["total_count"] == 3 for event in events)
    assert all(event["iteration_status"] == "success" for event in events)
    assert sorted(event["current_index"] for event in events) == [0, 1, 2]
    assert events[-1]["completed_count"] == 3


async def test_should_emit_progress_event_with_failed_iteration_status_when_a_foreach_iteration_fails(
    harness: Harness, calls: Calls
) -> None:
    """foreach #11: should emit progress event with failed iterationStatus when a foreach iteration fails.

    The foreach stops at the failed item: the third item and ``final`` never run.
    """

    async def map_execute(ctx: Any) -> Any:
        calls.hit("map", ctx.input_data)
        if ctx.input_data["value"] == 22:
            raise RuntimeError("Iteration failed for value 22")
        return {"value": ctx.input_data["value"] + 11}

    async def final_execute(ctx: Any) -> Any:
        calls.hit("final", ctx.input_data)
        return {"finalValue": sum(item["value"] for item in ctx.input_data)}

    workflow = (
        create_workflow("foreach-progress-fail", input_schema=Numbers, validate_inputs=False)
        .foreach(create_step("map", execute=map_execute, input_schema=Number))
        .then(create_step("final", execute=final_execute))
        .commit()
    )
    result = await harness.execute(workflow, items(1, 22, 333))
    assert result.status == "failed"
    events = progress_events(harness, "map")
    assert events[0] == {
        "id": "map",
        "completed_count": 1,
        "total_count": 3,
        "current_index": 0,
        "iteration_status": "success",
    }
    failed = [event for event in events if event["iteration_status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["current_index"] == 1
    assert calls["map"] == 2
    assert calls["final"] == 0
    assert result.steps["map"].status == "failed"


async def test_should_run_the_items_of_a_foreach_over_a_nested_workflow_side_by_side(
    harness: Harness, calls: Calls
) -> None:
    """Beyond the spec: the steps inside concurrent items of a nested workflow do not collide.

    Each item runs its own execution of the nested workflow; its steps are kept
    apart per item (an engine that keyed them by path alone ran one at a time or
    never finished).
    """
    tracker = ConcurrencyTracker(width=3, total=5)

    async def double(ctx: Any) -> Any:
        calls.hit("double", ctx.input_data)
        async with tracker.hold(ctx.input_data):
            return ctx.input_data * 2

    async def increment(ctx: Any) -> Any:
        calls.hit("increment", ctx.input_data)
        return ctx.input_data + 1

    nested = (
        create_workflow("foreach-nested-item", input_schema=Integer, output_schema=Integer)
        .then(create_step("double", execute=double, input_schema=Integer, output_schema=Integer))
        .then(create_step("increment", execute=increment, input_schema=Integer, output_schema=Integer))
        .commit()
    )
    workflow = create_workflow("foreach-nested-concurrent").foreach(nested, concurrency=3).commit()
    result = await harness.execute(workflow, [1, 2, 3, 4, 5])
    assert result.status == "success"
    assert result.result == [3, 5, 7, 9, 11]
    assert tracker.peak == 3
    assert sorted(calls.inputs["double"]) == [1, 2, 3, 4, 5]
    assert sorted(calls.inputs["increment"]) == [2, 4, 6, 8, 10]
    assert result.steps["foreach-nested-item"].output == [3, 5, 7, 9, 11]


async def test_should_run_a_foreach_inside_a_nested_workflow_that_a_concurrent_foreach_runs(
    harness: Harness, calls: Calls
) -> None:
    """Beyond the spec: a foreach two levels down keeps the items of both levels apart.

    The outer foreach runs a nested workflow per list, at concurrency 2; inside, a
    foreach doubles each number, also at concurrency 2. Inner item 0 of outer item
    0 and inner item 0 of outer item 1 are different executions of one step.
    """

    async def double(ctx: Any) -> Any:
        calls.hit("double", ctx.input_data)
        return ctx.input_data * 2

    inner = (
        create_workflow("foreach-two-levels-inner", input_schema=Integers, output_schema=Integers)
        .foreach(
            create_step("double", execute=double, input_schema=Integer, output_schema=Integer), concurrency=2
        )
        .commit()
    )
    workflow = create_workflow("foreach-two-levels").foreach(inner, concurrency=2).commit()
    result = await harness.execute(workflow, [[1, 2], [3, 4], [5, 6]])
    assert result.status == "success"
    assert result.result == [[2, 4], [6, 8], [10, 12]]
    assert sorted(calls.inputs["double"]) == [1, 2, 3, 4, 5, 6]
