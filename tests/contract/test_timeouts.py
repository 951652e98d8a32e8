"""Step and workflow timeouts.

A step attempt that outlives its ``timeout`` sees its abort signal, is stopped and
fails with ``StepTimeoutError``, which its retry policy may retry. A run that
outlives its workflow's ``timeout`` fails with ``WorkflowTimeoutError``, whether
it was running or suspended; the steps still running see their abort signal.
The steps that must be stopped wait on their abort signal, never on a clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from workflows_app import RetryPolicy, create_step, create_workflow
from workflows_app.errors import StepTimeoutError

from .conftest import Calls, Harness
from .processes import shared_list


def stuck_first(
    calls: Calls, heard: list[Any], step_id: str, *, stuck_attempts: int = 99, **options: Any
) -> Any:
    """A step whose first ``stuck_attempts`` attempts wait for their abort signal; later ones return."""

    async def execute(ctx: Any) -> Any:
        calls.hit(step_id, ctx.retry_count)
        if ctx.retry_count < stuck_attempts:
            try:
                await ctx.abort_signal
                await asyncio.Event().wait()  # only a cancellation ends this attempt now
            finally:
                heard.append(ctx.abort_signal.aborted)
        return {"attempt": ctx.retry_count}

    return create_step(step_id, execute=execute, **options)


async def test_a_step_past_its_timeout_sees_its_abort_signal_and_fails(
    harness: Harness, calls: Calls
) -> None:
    heard: list[Any] = shared_list()
    workflow = create_workflow("timeout-step").then(stuck_first(calls, heard, "slow", timeout=0.2)).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    assert calls["slow"] == 1
    assert list(heard) == [True]
    error = result.steps["slow"].error
    assert isinstance(error, StepTimeoutError)
    assert "timed out after 0.2 s" in str(error)
    assert result.error is not None and result.error["name"] == "StepTimeoutError"


async def test_a_timed_out_attempt_is_retried_by_the_policy(harness: Harness, calls: Calls) -> None:
    heard: list[Any] = shared_list()
    # 1 s: the quick second attempt stays within it even on a loaded machine
    step = stuck_first(calls, heard, "slow", stuck_attempts=1, timeout=1.0, retries=RetryPolicy(attempts=2))
    workflow = create_workflow("timeout-step-retried").then(step).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert result.result == {"attempt": 1}
    assert calls.inputs["slow"] == [0, 1]
    (tried,) = result.steps["slow"].failed_attempts
    assert (tried["attempt"], tried["error"]["name"]) == (0, "StepTimeoutError")
    retries = [e["payload"] for e in harness.events if e["type"] == "workflow-step-retry"]
    assert [(r["attempt"], r["error"]["name"]) for r in retries] == [(0, "StepTimeoutError")]


async def test_a_timeout_listed_as_non_retryable_is_not_retried(harness: Harness, calls: Calls) -> None:
    heard: list[Any] = shared_list()
    policy = RetryPolicy(attempts=3, non_retryable=(StepTimeoutError,))
    step = stuck_first(calls, heard, "slow", timeout=0.1, retries=policy)
    workflow = create_workflow("timeout-step-fatal").then(step).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    assert calls["slow"] == 1


async def test_a_step_within_its_timeout_is_not_touched(harness: Harness, calls: Calls) -> None:
    async def quick(ctx: Any) -> Any:
        calls.hit("quick")
        return {"aborted": ctx.abort_signal.aborted}

    workflow = (
        create_workflow("timeout-step-quick").then(create_step("quick", execute=quick, timeout=30)).commit()
    )
    result = await harness.execute(workflow, {})
    assert (result.status, result.result) == ("success", {"aborted": False})


async def test_a_run_past_its_workflow_timeout_fails_and_its_running_step_is_aborted(
    harness: Harness, calls: Calls
) -> None:
    heard: list[Any] = shared_list()

    async def until_aborted(ctx: Any) -> Any:
        calls.hit("forever")
        await ctx.abort_signal  # cooperates: returns once told to stop
        heard.append(ctx.abort_signal.aborted)
        return {"stopped": True}

    workflow = (
        create_workflow("timeout-workflow", timeout=0.3)
        .then(create_step("forever", execute=until_aborted))
        .then(create_step("never", execute=lambda ctx: calls.hit("never")))
        .commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    assert result.error is not None
    assert result.error["name"] == "WorkflowTimeoutError"
    assert "did not finish within 0.3 s" in result.error["message"]
    assert calls["never"] == 0
    await until(lambda: list(heard) == [True])
    finish = [e for e in harness.events if e["type"] == "workflow-finish"]
    assert [e["payload"]["workflow_status"] for e in finish] == ["failed"]


async def test_a_suspended_run_past_its_workflow_timeout_fails(harness: Harness, calls: Calls) -> None:
    async def ask(ctx: Any) -> Any:
        calls.hit("ask")
        return await ctx.suspend({"question": "anyone?"})

    workflow = (
        create_workflow("timeout-suspended", timeout=3.0).then(create_step("ask", execute=ask)).commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "suspended"  # 3 s: time enough to get here even on a loaded machine

    async def failed() -> bool:
        stored = await workflow.aget_run(result.run_id)
        return stored is not None and stored.status == "failed"

    await until(failed)
    stored = await workflow.aget_run(result.run_id)
    assert stored is not None and stored.error is not None
    assert stored.error["name"] == "WorkflowTimeoutError"


async def test_a_run_that_finishes_in_time_is_not_failed_by_its_timeout(
    harness: Harness, calls: Calls
) -> None:
    workflow = (
        create_workflow("timeout-in-time", timeout=60.0)
        .then(create_step("fast", execute=lambda ctx: {"done": True}))
        .commit()
    )
    result = await harness.execute(workflow, {})
    assert (result.status, result.result) == ("success", {"done": True})


async def until(predicate: Callable[[], Any], timeout: float = 20.0) -> None:
    """Poll ``predicate`` (sync or async) until it holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"Condition not met within {timeout} s")
        await asyncio.sleep(0.02)
