"""Request context, the run's injected dependencies (spec: dependency-injection #1-#6).

``ctx.request_context`` is a mutable mapping persisted with the run: values given
at start or set by a step are seen by later steps, also after a suspend and a
resume in another process; a key deleted by a resumed step stays deleted.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from pydantic import BaseModel

from workflows_app import create_step, create_workflow

from .conftest import Harness
from .processes import shared_list
from .shapes import Empty, Number, new_run_id


async def resume_value_once(ctx: Any) -> Any:
    """Suspends until resumed, then returns the resumed value plus its input."""
    if ctx.resume_data is None:
        return await ctx.suspend({})
    return {"value": ctx.resume_data["value"] + ctx.input_data["value"]}


async def test_should_provide_request_context_to_step_execute_function(harness: Harness) -> None:
    """dependency-injection #1: should provide requestContext to step execute function (the engine
    supplies an empty one when the caller gives none)."""
    received: list[Any] = shared_list()

    async def execute(ctx: Any) -> Any:
        received.append(ctx.request_context)
        return {"result": "success"}

    step1 = create_step("step1", execute=execute, input_schema=Empty)
    workflow = create_workflow("di-test-workflow", input_schema=Empty).then(step1).commit()

    result = await harness.execute(workflow, {})

    assert result.status == "success"
    assert len(received) == 1
    assert received[0] is not None
    assert isinstance(received[0], MutableMapping)
    assert dict(received[0]) == {}


async def test_should_propagate_request_context_values_through_workflow_steps(harness: Harness) -> None:
    """dependency-injection #2: should propagate requestContext values through workflow steps."""
    seen: list[Any] = shared_list()

    async def step1_execute(ctx: Any) -> Any:
        ctx.request_context["testKey"] = "test-value"
        seen.append(ctx.request_context.get("testKey"))
        return {"value": "step1"}

    async def step2_execute(ctx: Any) -> Any:
        seen.append(ctx.request_context.get("testKey"))
        return {"value": "step2"}

    workflow = (
        create_workflow("di-propagation-workflow", input_schema=Empty)
        .then(create_step("step1", execute=step1_execute, input_schema=Empty))
        .then(create_step("step2", execute=step2_execute))
        .commit()
    )

    result = await harness.execute(workflow, {})

    assert result.status == "success"
    assert seen == ["test-value", "test-value"]


async def test_should_not_show_removed_request_context_values_in_subsequent_steps(harness: Harness) -> None:
    """dependency-injection #3: should not show removed requestContext values in subsequent steps (a key
    deleted by the resumed step is not brought back from the persisted context)."""
    final_seen: list[Any] = shared_list()

    async def increment(ctx: Any) -> Any:
        ctx.request_context["testKey"] = "test-dependency"
        return {"value": ctx.input_data["value"] + 1}

    async def resume(ctx: Any) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        del ctx.request_context["testKey"]
        return {"value": ctx.resume_data["value"]}

    async def final(ctx: Any) -> Any:
        final_seen.append(ctx.request_context.get("testKey"))
        final_seen.append("testKey" in ctx.request_context)
        return {"result": "done"}

    workflow = (
        create_workflow("di-removed-requestcontext-workflow", input_schema=Number)
        .then(create_step("increment", execute=increment, input_schema=Number))
        .then(create_step("resume", execute=resume, input_schema=Number, resume_schema=Number))
        .then(create_step("final", execute=final, input_schema=Number))
        .commit()
    )
    run_id = new_run_id("di-removed")

    started = await harness.execute(workflow, {"value": 0}, run_id=run_id)
    assert started.status == "suspended"

    result = await harness.resume(workflow, run_id, {"value": 21}, step="resume")

    assert result.status == "success"
    assert final_seen == [None, False]


async def test_should_work_with_custom_request_context_bug_4442(harness: Harness) -> None:
    """dependency-injection #4: should work with custom requestContext - bug #4442."""

    class UserInput(BaseModel):
        userInput: str

    async def get_user_input(ctx: Any) -> Any:
        return {"userInput": "test input"}

    async def prompt_agent(ctx: Any) -> Any:
        responses = list(ctx.request_context.get("responses") or [])
        if ctx.resume_data is None:
            ctx.request_context["responses"] = [*responses, "first message"]
            return await ctx.suspend({})
        ctx.request_context["responses"] = [*responses, "promptAgentAction"]
        return {"result": "done"}

    async def request_context_action(ctx: Any) -> Any:
        return ctx.request_context.get("responses")

    workflow = (
        create_workflow("di-bug-4442-workflow")
        .then(create_step("getUserInput", execute=get_user_input))
        .then(
            create_step("promptAgent", execute=prompt_agent, input_schema=UserInput, resume_schema=UserInput)
        )
        .then(create_step("requestContextAction", execute=request_context_action))
        .commit()
    )
    run_id = new_run_id("di-4442")

    started = await harness.execute(
        workflow, {"input": "test"}, run_id=run_id, request_context={"responses": []}
    )

    assert started.status == "suspended"
    assert started.steps["promptAgent"].status == "suspended"

    result = await harness.resume(
        workflow, run_id, {"userInput": "test input for resumption"}, step="promptAgent"
    )

    assert result.status == "success"
    assert result.steps["requestContextAction"].status == "success"
    assert result.steps["requestContextAction"].output == ["first message", "promptAgentAction"]


async def test_should_inject_request_context_into_steps_during_resume(harness: Harness) -> None:
    """dependency-injection #5: should inject requestContext into steps during resume (the context given
    at start is persisted with the run; the resume passes none)."""

    class Data(BaseModel):
        data: str

    captured: list[Any] = shared_list()

    async def suspend_resume(ctx: Any) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        value = ctx.request_context.get("injectedKey")
        captured.append(value)
        return {"result": "resumed", "contextValue": value}

    workflow = (
        create_workflow("di-resume-requestcontext-workflow", input_schema=Empty)
        .then(create_step("suspend-resume", execute=suspend_resume, input_schema=Empty, resume_schema=Data))
        .commit()
    )
    run_id = new_run_id("di-resume-ctx")

    started = await harness.execute(
        workflow, {}, run_id=run_id, request_context={"injectedKey": "injected-value"}
    )
    assert started.status == "suspended"

    result = await harness.resume(workflow, run_id, {"data": "test"}, step="suspend-resume")

    assert result.status == "success"
    assert captured == ["injected-value"]
    assert result.result == {"result": "resumed", "contextValue": "injected-value"}


async def test_should_preserve_request_context_values_set_before_suspension_through_resume(
    harness: Harness,
) -> None:
    """dependency-injection #6: should preserve requestContext values set before suspension through
    resume."""
    final_seen: list[Any] = shared_list()

    async def increment(ctx: Any) -> Any:
        ctx.request_context["testKey"] = "test-value"
        return {"value": ctx.input_data["value"] + 1}

    async def final(ctx: Any) -> Any:
        final_seen.append(ctx.request_context.get("testKey"))
        return {"value": ctx.input_data["value"]}

    workflow = (
        create_workflow("di-requestcontext-before-suspension-workflow", input_schema=Number)
        .then(create_step("increment", execute=increment, input_schema=Number))
        .then(create_step("resume", execute=resume_value_once, input_schema=Number, resume_schema=Number))
        .then(create_step("final", execute=final, input_schema=Number))
        .commit()
    )
    run_id = new_run_id("di-before-suspension")

    started = await harness.execute(workflow, {"value": 0}, run_id=run_id)
    assert started.status == "suspended"

    result = await harness.resume(workflow, run_id, {"value": 21}, step="resume")

    assert result.status == "success"
    assert result.result == {"value": 22}
    assert final_seen == ["test-value"]
