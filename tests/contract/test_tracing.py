"""Tracing context in steps (spec: tracing #1-#3).

Mastra's ``tracingContext`` (an object that may hold ``currentSpan``) is our
``StepContext.tracing_context``, a dict.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

from workflows_app import StepContext, create_step, create_workflow

from .conftest import Harness
from .processes import shared_list


class In(BaseModel):
    input: str


async def test_should_provide_tracing_context_to_step_execution(harness: Harness) -> None:
    """tracing #1: should provide tracingContext to step execution."""
    captured: list[Any] = shared_list()

    async def execute(ctx: StepContext) -> Any:
        captured.append(ctx.tracing_context)
        return {"result": "success"}

    workflow = (
        create_workflow("tracing-single", input_schema=In)
        .then(create_step("step1", execute=execute))
        .commit()
    )
    result = await harness.execute(workflow, {"input": "test"})
    assert result.status == "success"
    assert len(captured) == 1
    assert isinstance(captured[0], dict)


async def test_should_provide_full_type_script_support_for_tracing_context(harness: Harness) -> None:
    """tracing #2: should provide full TypeScript support for tracingContext (in Python: the context's
    annotation types it as a dict, and a step reading ``current_span`` from it is a valid step)."""

    async def execute(ctx: StepContext) -> Any:
        span = ctx.tracing_context.get("current_span")
        return {"has_span": span is not None}

    step = create_step("typed-tracing-step", execute=execute)
    assert step is not None
    assert typing.get_type_hints(StepContext)["tracing_context"] == dict[str, Any]


async def test_should_provide_tracing_context_to_all_steps_in_workflow(harness: Harness) -> None:
    """tracing #3: should provide tracingContext to all steps in workflow."""
    captured: list[tuple[str, Any]] = shared_list()

    def capturing(step_id: str) -> Any:
        async def execute(ctx: StepContext) -> Any:
            captured.append((step_id, ctx.tracing_context))
            return {"value": step_id}

        return create_step(step_id, execute=execute)

    workflow = (
        create_workflow("tracing-multistep", input_schema=In)
        .then(capturing("step1"))
        .then(capturing("step2"))
        .commit()
    )
    result = await harness.execute(workflow, {"input": "test"})
    assert result.status == "success"
    assert [step_id for step_id, _ in captured] == ["step1", "step2"]
    assert all(isinstance(context, dict) for _, context in captured)
