"""Retry (spec: retry #1-#3).

A failing step runs once plus as many retries as its own ``retries`` says, or else
as the workflow's ``retry_config.attempts`` says (0 by default). After the last
attempt the step, and the run, are ``failed``, and the step keeps its payload.
Delays are seconds here (the spec's 10 ms is 0.01). Workflow ids carry the ``retry-`` prefix.
"""

from __future__ import annotations

from typing import Any

from workflows_app import RetryConfig, WorkflowResult, create_step, create_workflow

from .conftest import Calls, Harness
from .shapes import Empty


def failing_workflow(
    calls: Calls, workflow_id: str, *, retry_config: RetryConfig | None = None, retries: int | None = None
) -> Any:
    """step1 succeeds, step2 always raises; ``retries`` goes on both steps, as in the spec."""

    async def step1(ctx: Any) -> Any:
        calls.hit("step1", ctx.input_data)
        return {"result": "success"}

    async def step2(ctx: Any) -> Any:
        calls.hit("step2", ctx.retry_count)
        raise RuntimeError("Step failed")

    return (
        create_workflow(workflow_id, input_schema=Empty, retry_config=retry_config)
        .then(create_step("step1", execute=step1, input_schema=Empty, retries=retries))
        .then(create_step("step2", execute=step2, input_schema=Empty, retries=retries))
        .commit()
    )


def assert_step2_failed_after_step1(result: WorkflowResult, calls: Calls) -> None:
    """What all three tests share: step1 ran once and succeeded, step2 failed keeping its payload."""
    assert result.status == "failed"
    step1 = result.steps["step1"]
    assert (step1.status, step1.output, step1.payload) == ("success", {"result": "success"}, {})
    step2 = result.steps["step2"]
    assert step2.status == "failed"
    assert step2.payload == {"result": "success"}
    assert isinstance(step2.error, Exception)
    assert "Step failed" in str(step2.error)
    assert calls["step1"] == 1


async def test_should_retry_a_step_default_0_times(harness: Harness, calls: Calls) -> None:
    """retry #1: should retry a step default 0 times."""
    workflow = failing_workflow(calls, "retry-default")
    result = await harness.execute(workflow, {})
    assert_step2_failed_after_step1(result, calls)
    assert calls["step2"] == 1


async def test_should_retry_a_step_with_a_custom_retry_config(harness: Harness, calls: Calls) -> None:
    """retry #2: should retry a step with a custom retry config (attempts 5: 1 + 5 executions)."""
    workflow = failing_workflow(
        calls, "retry-custom-config", retry_config=RetryConfig(attempts=5, delay=0.01)
    )
    result = await harness.execute(workflow, {})
    assert_step2_failed_after_step1(result, calls)
    assert calls["step2"] == 6
    assert calls.inputs["step2"] == [0, 1, 2, 3, 4, 5]


async def test_should_retry_a_step_with_step_retries_option_overriding_the_workflow_retry_config(
    harness: Harness, calls: Calls
) -> None:
    """retry #3: should retry a step with step retries option, overriding the workflow retry config."""
    workflow = failing_workflow(
        calls, "retry-step-override", retry_config=RetryConfig(attempts=10, delay=0.01), retries=5
    )
    result = await harness.execute(workflow, {})
    assert_step2_failed_after_step1(result, calls)
    assert calls["step2"] == 6
