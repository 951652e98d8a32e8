"""Agent-like plain steps (spec: agent-step #1-#7).

#8-#9 wrap real agents (an Agent object with a model, looked up from a Mastra
instance) and are covered with the agent integration, not here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from workflows_app import create_step, create_workflow

from .conftest import Harness
from .processes import shared_list
from .shapes import Input, Prompt


class Text(BaseModel):
    text: str


async def test_should_execute_workflow_with_step_that_simulates_agent_behavior(harness: Harness) -> None:
    """agent-step #1: should execute workflow with step that simulates agent behavior."""
    agent = create_step(
        "agent-step",
        execute=lambda ctx: {"response": f"Processed: {ctx.input_data['prompt']}"},
        input_schema=Prompt,
    )
    workflow = create_workflow("agent-like-workflow", input_schema=Prompt).then(agent).commit()
    result = await harness.execute(workflow, {"prompt": "Hello, world!"})
    assert result.status == "success"
    assert result.steps["agent-step"].status == "success"
    assert result.steps["agent-step"].output == {"response": "Processed: Hello, world!"}


async def test_should_chain_steps_before_and_after_agent_like_step(harness: Harness) -> None:
    """agent-step #2: should chain steps before and after agent-like step."""

    class Response(BaseModel):
        response: str

    prepare = create_step(
        "prepare", execute=lambda ctx: {"prompt": f"Enhanced: {ctx.input_data['input']}"}, input_schema=Input
    )
    agent = create_step(
        "agent-step",
        execute=lambda ctx: {"response": f"AI Response to: {ctx.input_data['prompt']}"},
        input_schema=Prompt,
    )
    post = create_step(
        "post-process",
        execute=lambda ctx: {"finalResult": ctx.input_data["response"].upper()},
        input_schema=Response,
    )
    workflow = (
        create_workflow("agent-like-chained", input_schema=Input)
        .then(prepare)
        .then(agent)
        .then(post)
        .commit()
    )
    result = await harness.execute(workflow, {"input": "test input"})
    assert result.status == "success"
    assert result.steps["prepare"].output == {"prompt": "Enhanced: test input"}
    assert result.steps["agent-step"].output == {"response": "AI Response to: Enhanced: test input"}
    assert result.steps["post-process"].status == "success"
    assert result.steps["post-process"].output == {"finalResult": "AI RESPONSE TO: ENHANCED: TEST INPUT"}


async def test_should_handle_agent_step_errors_gracefully(harness: Harness) -> None:
    """agent-step #3: should handle agent step errors gracefully."""

    async def failing(ctx: Any) -> Any:
        raise RuntimeError("LLM API rate limit exceeded")

    prepare = create_step(
        "prepare", execute=lambda ctx: {"prompt": ctx.input_data["input"]}, input_schema=Input
    )
    agent = create_step("agent-step", execute=failing, input_schema=Prompt)
    workflow = create_workflow("agent-like-failing", input_schema=Input).then(prepare).then(agent).commit()
    result = await harness.execute(workflow, {"input": "test input"})
    assert result.status == "failed"
    assert result.steps["prepare"].status == "success"
    assert result.steps["prepare"].output == {"prompt": "test input"}
    assert result.steps["agent-step"].status == "failed"
    error = result.steps["agent-step"].error
    assert isinstance(error, Exception)
    assert "LLM API rate limit exceeded" in str(error)
    assert result.error is not None
    assert "LLM API rate limit exceeded" in result.error["message"]


async def test_should_execute_agent_like_steps_in_parallel(harness: Harness) -> None:
    """agent-step #4: should execute agent-like steps in parallel.

    Each agent is wrapped in a nested workflow.
    """

    class Prompts(BaseModel):
        prompt1: str
        prompt2: str

    def agent(step_id: str, name: str) -> Any:
        return create_step(
            step_id,
            execute=lambda ctx: {"text": f"{name} Response to: {ctx.input_data['prompt']}"},
            input_schema=Prompt,
            output_schema=Text,
        )

    nested1 = create_workflow("agent-like-nested-1", input_schema=Prompt, output_schema=Text)
    nested1.then(agent("agent-step-1", "Agent1")).commit()
    nested2 = create_workflow("agent-like-nested-2", input_schema=Prompt, output_schema=Text)
    nested2.then(agent("agent-step-2", "Agent2")).commit()
    start = create_step("start", execute=lambda ctx: dict(ctx.input_data), input_schema=Prompts)

    def combine(ctx: Any) -> Any:
        texts = [ctx.input_data[wf_id]["text"] for wf_id in ("agent-like-nested-1", "agent-like-nested-2")]
        return {"combined": " | ".join(texts)}

    final = create_step("finalStep", execute=combine)
    workflow = (
        create_workflow("agent-like-parallel", input_schema=Prompts)
        .then(start)
        .map({"prompt": {"step": start, "path": "prompt1"}})
        .parallel([nested1, nested2])
        .then(final)
        .commit()
    )
    result = await harness.execute(workflow, {"prompt1": "Hello", "prompt2": "World"})
    assert result.status == "success"
    assert result.steps["start"].output == {"prompt1": "Hello", "prompt2": "World"}
    assert result.steps["agent-like-nested-1"].status == "success"
    assert result.steps["agent-like-nested-1"].output == {"text": "Agent1 Response to: Hello"}
    assert result.steps["agent-like-nested-2"].status == "success"
    assert result.steps["agent-like-nested-2"].output == {"text": "Agent2 Response to: Hello"}
    assert result.steps["finalStep"].status == "success"
    combined = result.steps["finalStep"].output["combined"]
    assert "Agent1 Response" in combined
    assert "Agent2 Response" in combined


async def test_should_execute_agent_like_nested_workflow_as_a_step(harness: Harness) -> None:
    """agent-step #5: should execute agent-like nested workflow as a step."""

    class Question(BaseModel):
        question: str

    def answer(ctx: Any) -> Any:
        prompt = ctx.input_data["prompt"]
        return {"text": "Paris is the capital of France" if "capital" in prompt else f"Processed: {prompt}"}

    nested = create_workflow("agent-like-nested-as-step", input_schema=Prompt, output_schema=Text)
    nested.then(create_step("agent-step", execute=answer, input_schema=Prompt)).commit()
    prep = create_step(
        "prep",
        execute=lambda ctx: {"prompt": f"Question: {ctx.input_data['question']}"},
        input_schema=Question,
    )
    post = create_step(
        "post", execute=lambda ctx: {"answer": ctx.input_data["text"].upper()}, input_schema=Text
    )
    workflow = (
        create_workflow("agent-like-nested-step", input_schema=Question).then(prep).then(nested).then(post)
    )
    workflow.commit()
    result = await harness.execute(workflow, {"question": "What is the capital of France?"})
    assert result.status == "success"
    assert result.steps["prep"].output == {"prompt": "Question: What is the capital of France?"}
    assert result.steps["agent-like-nested-as-step"].status == "success"
    assert result.steps["post"].status == "success"
    assert "PARIS" in result.steps["post"].output["answer"]


async def test_should_handle_agent_like_step_in_deeply_nested_workflow(harness: Harness) -> None:
    """agent-step #6: should handle agent-like step in deeply nested workflow."""

    class Data(BaseModel):
        data: str

    deep_agent = create_step(
        "deep-agent-step",
        execute=lambda ctx: {"text": f"Deep Agent Response: {ctx.input_data['prompt']}"},
        input_schema=Prompt,
    )
    inner = create_workflow("agent-like-inner-nested", input_schema=Prompt, output_schema=Text)
    inner.then(deep_agent).commit()
    middle_step = create_step(
        "middle-step",
        execute=lambda ctx: {"prompt": f"Middle processed: {ctx.input_data['input']}"},
        input_schema=Input,
    )
    middle = create_workflow("agent-like-middle-nested", input_schema=Input, output_schema=Text)
    middle.then(middle_step).then(inner).commit()
    outer = create_step(
        "outer-step", execute=lambda ctx: {"input": ctx.input_data["data"]}, input_schema=Data
    )
    final = create_step(
        "final-step", execute=lambda ctx: {"result": f"Final: {ctx.input_data['text']}"}, input_schema=Text
    )
    workflow = (
        create_workflow("agent-like-deep-nested", input_schema=Data).then(outer).then(middle).then(final)
    )
    workflow.commit()
    result = await harness.execute(workflow, {"data": "test data"})
    assert result.status == "success"
    assert result.steps["outer-step"].output == {"input": "test data"}
    assert result.steps["agent-like-middle-nested"].status == "success"
    expected = {"text": "Deep Agent Response: Middle processed: test data"}
    assert result.steps["agent-like-middle-nested"].output == expected
    assert result.steps["final-step"].status == "success"
    assert "Final:" in result.result["result"]
    assert "Deep Agent Response" in result.result["result"]


async def test_should_pass_options_through_to_agent_like_step(harness: Harness) -> None:
    """agent-step #7: should pass options through to agent-like step."""

    class Options(BaseModel):
        prompt: str
        temperature: float | None = None
        maxTokens: int | None = None
        instructions: str | None = None

    received: list[dict[str, Any]] = shared_list()

    def execute(ctx: Any) -> Any:
        data = ctx.input_data
        received.append({key: data[key] for key in ("temperature", "maxTokens", "instructions")})
        return {
            "text": f"Processed with options: {data['prompt']}",
            "receivedTemp": data["temperature"],
            "receivedMaxTokens": data["maxTokens"],
            "receivedInstructions": data["instructions"],
        }

    step = create_step("agent-with-options", execute=execute, input_schema=Options)
    workflow = create_workflow("agent-like-options", input_schema=Options).then(step).commit()
    result = await harness.execute(
        workflow,
        {"prompt": "Hello agent", "temperature": 0.7, "maxTokens": 1000, "instructions": "Be helpful"},
    )
    assert result.status == "success"
    output = result.steps["agent-with-options"].output
    assert output["receivedTemp"] == 0.7
    assert output["receivedMaxTokens"] == 1000
    assert output["receivedInstructions"] == "Be helpful"
    assert "Processed with options" in output["text"]
    assert received == [{"temperature": 0.7, "maxTokens": 1000, "instructions": "Be helpful"}]
