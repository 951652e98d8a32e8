"""RetryPolicy: backoff, a cap, jitter, errors never retried, the step's policy winning.

Each wait is a timer of the run, so the tests read it from the run's own records
(when the failed attempt ended, when the retry was due, when the next attempt
started) rather than from a clock. Delays are tens of milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from workflows_app import RetryPolicy, StepResult, create_step, create_workflow

from .conftest import Calls, Harness


def flaky(
    calls: Calls, step_id: str, failures: int, error: type[Exception] = RuntimeError, **options: Any
) -> Any:
    """A step that raises ``error`` on its first ``failures`` attempts, then returns its attempt."""

    async def execute(ctx: Any) -> Any:
        calls.hit(step_id, ctx.retry_count)
        if ctx.retry_count < failures:
            raise error(f"attempt {ctx.retry_count} failed")
        return {"attempt": ctx.retry_count}

    return create_step(step_id, execute=execute, **options)


def retry_events(harness: Harness) -> list[dict[str, Any]]:
    return [event["payload"] for event in harness.events if event["type"] == "workflow-step-retry"]


async def test_backoff_doubles_the_wait_up_to_the_cap_and_the_step_then_succeeds(
    harness: Harness, calls: Calls
) -> None:
    policy = RetryPolicy(attempts=4, delay=0.02, backoff=2.0, max_delay=0.05)
    workflow = (
        create_workflow("retry-policy-backoff", retry_config=policy)
        .then(flaky(calls, "flaky", failures=3))
        .commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert result.result == {"attempt": 3}
    assert calls.inputs["flaky"] == [0, 1, 2, 3]
    step = result.steps["flaky"]
    assert isinstance(step, StepResult)
    tries = step.failed_attempts or []
    assert [t["attempt"] for t in tries] == [0, 1, 2]
    assert [t["error"]["message"] for t in tries] == [f"attempt {n} failed" for n in range(3)]
    events = retry_events(harness)
    assert [e["attempt"] for e in events] == [0, 1, 2]
    waits = [event["retry_at"] - tried["ended_at"] for event, tried in zip(events, tries, strict=True)]
    assert waits == [20, 40, 50]  # 20 ms, doubled, capped at 50 ms
    starts = [tried["started_at"] for tried in tries[1:]] + [step.started_at]
    assert all(start >= event["retry_at"] for start, event in zip(starts, events, strict=True))


async def test_jitter_gives_the_waits_the_policy_computes_for_the_run(harness: Harness, calls: Calls) -> None:
    policy = RetryPolicy(attempts=2, delay=0.04, jitter=0.5)
    step = flaky(calls, "jittery", failures=2, retries=policy)
    workflow = create_workflow("retry-policy-jitter").then(step).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    tries = result.steps["jittery"].failed_attempts
    events = retry_events(harness)
    waits = [event["retry_at"] - tried["ended_at"] for event, tried in zip(events, tries, strict=True)]
    seed = events[0]["step_call_id"]
    assert waits == [policy.delay_ms(1, seed), policy.delay_ms(2, seed)]
    assert all(20 <= wait <= 60 for wait in waits)


async def test_a_step_policy_overrides_the_workflow_policy(harness: Harness, calls: Calls) -> None:
    workflow = (
        create_workflow("retry-policy-step-wins", retry_config=RetryPolicy(attempts=5))
        .then(flaky(calls, "own", failures=9, retries=RetryPolicy(attempts=1)))
        .commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    assert calls["own"] == 2
    assert [t["attempt"] for t in result.steps["own"].failed_attempts] == [0]
    assert result.steps["own"].error is not None


async def test_non_retryable_types_fail_the_step_at_the_first_attempt(harness: Harness, calls: Calls) -> None:
    policy = RetryPolicy(attempts=3, non_retryable=(KeyError,))
    workflow = (
        create_workflow("retry-policy-fatal", retry_config=policy)
        .then(flaky(calls, "transient", failures=1, error=ValueError))
        .then(flaky(calls, "fatal", failures=9, error=KeyError))
        .commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    assert (calls["transient"], calls["fatal"]) == (2, 1)
    assert result.steps["transient"].status == "success"
    assert result.steps["fatal"].failed_attempts is None


async def test_every_attempt_is_retried_until_the_attempts_run_out(harness: Harness, calls: Calls) -> None:
    workflow = (
        create_workflow("retry-policy-exhausted", retry_config=RetryPolicy(attempts=2, delay=0.01))
        .then(flaky(calls, "doomed", failures=9))
        .commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    assert calls["doomed"] == 3
    doomed = result.steps["doomed"]
    assert [t["attempt"] for t in doomed.failed_attempts] == [0, 1]
    assert "attempt 2 failed" in str(doomed.error)
    assert result.error is not None and result.error["message"] == "attempt 2 failed"
    stored = await workflow.aget_run(result.run_id)
    assert stored is not None and stored.steps is not None
    assert [t["attempt"] for t in stored.steps["doomed"]["failed_attempts"]] == [0, 1]


async def test_a_run_waiting_for_a_retry_is_running_and_a_cancel_ends_the_wait(
    harness: Harness, calls: Calls
) -> None:
    workflow = (
        create_workflow("retry-policy-cancel", retry_config=RetryPolicy(attempts=1, delay=3600.0))
        .then(flaky(calls, "later", failures=1))
        .commit()
    )
    run = await workflow.acreate_run(engine=harness.engine)
    await run.aenqueue({})

    async def waiting() -> bool:
        stored = await workflow.aget_run(run.run_id)
        return bool(stored and stored.steps and stored.steps.get("later", {}).get("status") == "waiting")

    await until(waiting)
    stored = await workflow.aget_run(run.run_id)
    assert stored is not None and stored.status == "running"
    assert stored.steps is not None and stored.steps["later"]["metadata"]["retry_at"] > 0
    await run.acancel()
    assert await stored_status(workflow, run.run_id) == "canceled"
    assert calls["later"] == 1


async def stored_status(workflow: Any, run_id: str) -> str:
    async def settled() -> bool:
        stored = await workflow.aget_run(run_id)
        return bool(stored and stored.status not in ("running", "pending"))

    await until(settled)
    stored = await workflow.aget_run(run_id)
    return str(stored.status)


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    """Poll an async predicate until it holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"Condition not met within {timeout} s")
        await asyncio.sleep(0.02)


async def test_a_foreach_item_waits_for_its_own_retry(harness: Harness, calls: Calls) -> None:
    async def double(ctx: Any) -> Any:
        calls.hit("double", (ctx.input_data, ctx.retry_count))
        if ctx.input_data == 1 and ctx.retry_count == 0:
            raise RuntimeError("item 1 failed once")
        return ctx.input_data * 2

    step = create_step("double", execute=double, retries=RetryPolicy(attempts=1, delay=0.02))
    workflow = create_workflow("retry-policy-foreach").foreach(step, concurrency=3).commit()
    result = await harness.execute(workflow, [0, 1, 2])
    assert (result.status, result.result) == ("success", [0, 2, 4])
    assert sorted(calls.inputs["double"]) == [(0, 0), (1, 0), (1, 1), (2, 0)]
    (retry,) = retry_events(harness)
    assert (retry["for_each_index"], retry["attempt"]) == (1, 0)


async def test_a_nested_workflow_policy_governs_its_own_steps(harness: Harness, calls: Calls) -> None:
    inner = (
        create_workflow("retry-policy-inner", retry_config=RetryPolicy(attempts=2, delay=0.01))
        .then(flaky(calls, "inner-step", failures=2))
        .commit()
    )
    outer = create_workflow("retry-policy-outer").then(inner).commit()
    result = await harness.execute(outer, {})
    assert (result.status, result.result) == ("success", {"attempt": 2})
    assert calls["inner-step"] == 3
    assert [e["id"] for e in retry_events(harness)] == ["retry-policy-inner.inner-step"] * 2
