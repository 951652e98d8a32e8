"""Sleep and sleep_until steps (spec: time-travel #1-#6).

The spec measures the run's wall-clock time; we read the same fact from the run's
own records instead: the sleep step ends no earlier than it was due, and the step
after it starts no earlier than that. Durations are a few tens of milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from workflows_app import WorkflowResult, create_step, create_workflow

from .conftest import Calls, Harness
from .processes import shared_list
from .shapes import counted

PAUSE_MS = 50


def sleep_record(steps: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The one sleep entry among ``steps`` (generated ids start with ``sleep_``), as a dict."""
    (found,) = [(key, value) for key, value in steps.items() if key.rpartition(".")[2].startswith("sleep_")]
    key, record = found
    return key, record if isinstance(record, dict) else record.to_dict()


def assert_slept(result: WorkflowResult, *, at_least_ms: int = 0, until_ms: int | None = None) -> None:
    """The sleep passed its input through, lasted long enough, and step2 started after it."""
    _, sleep = sleep_record(result.steps)
    assert sleep["status"] == "success"
    assert sleep["output"] == result.steps["step1"].output
    assert sleep["ended_at"] - sleep["started_at"] >= at_least_ms
    if until_ms is not None:
        assert sleep["ended_at"] >= until_ms
    assert result.steps["step2"].started_at >= sleep["ended_at"]


async def test_should_execute_a_sleep_step(harness: Harness, calls: Calls) -> None:
    """time-travel #1: should execute a sleep step."""
    step1 = counted(calls, "step1", lambda ctx: {"result": "success"})
    step2 = counted(calls, "step2", lambda ctx: {"result": "slept successfully: " + ctx.input_data["result"]})
    workflow = create_workflow("sleep-test-workflow").then(step1).sleep(PAUSE_MS / 1000).then(step2).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert (calls["step1"], calls["step2"]) == (1, 1)
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"result": "success"}
    assert result.steps["step2"].status == "success"
    assert result.steps["step2"].output == {"result": "slept successfully: success"}
    assert_slept(result, at_least_ms=PAUSE_MS)


async def test_should_execute_a_sleep_step_with_fn_parameter(harness: Harness, calls: Calls) -> None:
    """time-travel #2: should execute a sleep step with fn parameter (the duration comes from step1)."""

    async def duration(ctx: Any) -> float:
        value = (await ctx.get_step_result("step1") or {}).get("value", 20)
        return float(value) / 1000

    step1 = counted(calls, "step1", lambda ctx: {"value": PAUSE_MS})
    step2 = counted(calls, "step2", lambda ctx: {"result": f"slept for: {ctx.input_data['value']}"})
    workflow = create_workflow("sleep-fn-test-workflow").then(step1).sleep(duration).then(step2).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert (calls["step1"], calls["step2"]) == (1, 1)
    assert result.steps["step1"].output == {"value": PAUSE_MS}
    assert result.steps["step2"].output == {"result": f"slept for: {PAUSE_MS}"}
    assert_slept(result, at_least_ms=PAUSE_MS)


async def test_should_handle_sleep_in_conditional_branch(harness: Harness, calls: Calls) -> None:
    """time-travel #3: should handle sleep in conditional branch (the arm is a nested workflow)."""
    check = counted(calls, "check", lambda ctx: {"shouldSleep": True})
    after_sleep = counted(calls, "afterSleep", lambda ctx: {"result": "completed after sleep"})
    no_sleep = counted(calls, "noSleep", lambda ctx: {"result": "no sleep"})
    inner = create_workflow("sleep-branch-inner").sleep(PAUSE_MS / 1000).then(after_sleep).commit()
    workflow = (
        create_workflow("sleep-in-branch-workflow")
        .then(check)
        .branch(
            [
                (lambda ctx: ctx.input_data["shouldSleep"] is True, inner),
                (lambda ctx: ctx.input_data["shouldSleep"] is False, no_sleep),
            ]
        )
        .commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert (calls["check"], calls["afterSleep"], calls["noSleep"]) == (1, 1, 0)
    assert result.steps["sleep-branch-inner"].status == "success"
    assert result.steps["sleep-branch-inner"].output == {"result": "completed after sleep"}
    assert "noSleep" not in result.steps

    stored = await workflow.aget_run(result.run_id)
    assert stored is not None
    assert stored.steps is not None
    key, sleep = sleep_record(stored.steps)
    assert key.startswith("sleep-branch-inner.sleep_")
    assert sleep["status"] == "success"
    assert sleep["ended_at"] - sleep["started_at"] >= PAUSE_MS
    assert stored.steps["sleep-branch-inner.afterSleep"]["started_at"] >= sleep["ended_at"]


async def test_should_preserve_step_results_across_sleep(harness: Harness, calls: Calls) -> None:
    """time-travel #4: should preserve step results across sleep (getStepResult after the sleep)."""

    async def combine(ctx: Any) -> Any:
        calls.hit("step2", ctx.input_data)
        before = await ctx.get_step_result("step1")
        return {"combined": f"{before['value']} + after-sleep"}

    step1 = counted(calls, "step1", lambda ctx: {"value": "before-sleep"})
    step2 = create_step("step2", execute=combine)
    workflow = (
        create_workflow("sleep-preserve-results-workflow")
        .then(step1)
        .sleep(PAUSE_MS / 1000)
        .then(step2)
        .commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert (calls["step1"], calls["step2"]) == (1, 1)
    assert result.steps["step1"].output == {"value": "before-sleep"}
    assert result.steps["step2"].output == {"combined": "before-sleep + after-sleep"}
    assert_slept(result, at_least_ms=PAUSE_MS)


async def test_should_execute_a_sleep_until_step(harness: Harness, calls: Calls) -> None:
    """time-travel #5: should execute a sleepUntil step (the instant comes from a function)."""
    due: list[datetime] = shared_list()

    async def until(ctx: Any) -> datetime:
        due.append(datetime.now(UTC) + timedelta(milliseconds=PAUSE_MS))
        return due[-1]

    step1 = counted(calls, "step1", lambda ctx: {"result": "success"})
    step2 = counted(
        calls, "step2", lambda ctx: {"result": "slept until successfully: " + ctx.input_data["result"]}
    )
    workflow = (
        create_workflow("sleep-until-test-workflow").then(step1).sleep_until(until).then(step2).commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert (calls["step1"], calls["step2"]) == (1, 1)
    assert result.steps["step1"].output == {"result": "success"}
    assert result.steps["step2"].output == {"result": "slept until successfully: success"}
    assert len(due) == 1
    assert_slept(result, until_ms=int(due[0].timestamp() * 1000))


async def test_should_execute_a_sleep_until_step_with_fn_parameter(harness: Harness, calls: Calls) -> None:
    """time-travel #6: should execute a sleepUntil step with fn parameter (the delay is step1's output)."""
    due: list[datetime] = shared_list()

    def until(ctx: Any) -> datetime:
        due.append(datetime.now(UTC) + timedelta(milliseconds=ctx.input_data["value"]))
        return due[-1]

    step1 = counted(calls, "step1", lambda ctx: {"value": PAUSE_MS})
    step2 = counted(calls, "step2", lambda ctx: {"result": f"slept until fn: {ctx.input_data['value']}"})
    workflow = (
        create_workflow("sleep-until-fn-test-workflow").then(step1).sleep_until(until).then(step2).commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert (calls["step1"], calls["step2"]) == (1, 1)
    assert result.steps["step2"].output == {"result": f"slept until fn: {PAUSE_MS}"}
    assert len(due) == 1
    assert_slept(result, until_ms=int(due[0].timestamp() * 1000))
