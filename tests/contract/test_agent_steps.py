"""Agent and tool steps with pydantic-ai (spec: agent-step #8-#9, interoperability #5-#6,
streaming #14-#19 and #23, and the agent behaviours of catalog section P and M).

Agents are pydantic-ai ``Agent`` objects on ``FunctionModel`` fakes (see
``agent_fakes``); ``register_agent`` / ``get_agent`` play the part of the Mastra
instance the spec looks agents up in. The legacy stream tests (streaming #13 and
the legacy half of P: M5, M6) are not carried over, as API.md says. Tripwires are
in ``test_agent_tripwires``. Workflow ids carry the ``agent-`` prefix.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel
from pydantic_ai import Agent, Tool

from workflows_app import (
    StepContext,
    clone_step,
    create_step,
    create_workflow,
    get_agent,
    register_agent,
    register_tool,
)

from .agent_fakes import ModelSpy, agent, structured
from .conftest import Harness
from .processes import shared_list
from .shapes import Prompt, Value


class Prompts(BaseModel):
    prompt1: str
    prompt2: str


def echo_prompts() -> Any:
    return create_step("start", execute=lambda ctx: dict(ctx.input_data), input_schema=Prompts)


def two_agents_workflow(workflow_id: str, first: Any, second: Any) -> Any:
    """start -> map(prompt1) -> first -> map(prompt2) -> second, as the spec's agent workflows."""
    start = echo_prompts()
    return (
        create_workflow(workflow_id, input_schema=Prompts)
        .then(start)
        .map({"prompt": {"step": start, "path": "prompt1"}})
        .then(first)
        .map({"prompt": {"step": start, "path": "prompt2"}})
        .then(second)
        .commit()
    )


CAPITALS = {"prompt1": "Capital of France, just the name", "prompt2": "Capital of UK, just the name"}


def exact(record: Any) -> dict[str, Any]:
    """A step record with its timestamps checked and replaced, for exact comparison."""
    data = record.to_dict()
    assert isinstance(data.pop("started_at"), int)
    assert isinstance(data.pop("ended_at"), int)
    return dict(data)


def agent_via_registry(step_id: str, agent_id: str | None = None) -> Any:
    """A plain step that looks its agent up by id, as the spec's steps use mastra.getAgent()."""

    async def execute(ctx: StepContext) -> Any:
        found = get_agent(agent_id or ctx.input_data["agentName"])
        result = await found.run(ctx.input_data["prompt"])
        ctx.record_usage(result.usage)
        return {"text": result.output}

    return create_step(step_id, execute=execute)


async def test_should_be_able_to_use_an_agent_as_a_step_via_mastra_instance(harness: Harness) -> None:
    """agent-step #8: should be able to use an agent as a step via mastra instance.

    Also streaming #19, the same behaviour.
    """
    register_agent(agent("test-agent-1", "Paris"))
    register_agent(agent("test-agent-2", "London"))
    workflow = two_agents_workflow(
        "agent-step-via-registry",
        agent_via_registry("agent-step-1", "test-agent-1"),
        agent_via_registry("agent-step-2", "test-agent-2"),
    )
    result = await harness.start(workflow, CAPITALS)
    assert result.status == "success"
    assert exact(result.steps["agent-step-1"]) == {
        "status": "success",
        "output": {"text": "Paris"},
        "payload": {"prompt": "Capital of France, just the name"},
    }
    assert exact(result.steps["agent-step-2"]) == {
        "status": "success",
        "output": {"text": "London"},
        "payload": {"prompt": "Capital of UK, just the name"},
    }


async def test_should_be_able_to_use_an_agent_as_a_step_in_nested_workflow_via_mastra_instance(
    harness: Harness,
) -> None:
    """agent-step #9: should be able to use an agent as a step in nested workflow via mastra instance."""
    register_agent(agent("test-agent-1", "Paris"))
    register_agent(agent("test-agent-2", "London"))
    agent_step = agent_via_registry("agent-step")
    agent_step_2 = clone_step(agent_step, id="agent-step-2")

    async def final(ctx: StepContext) -> Any:
        first = await ctx.get_step_result(agent_step)
        second = await ctx.get_step_result(agent_step_2)
        return {"text": f"{first['text']} {second['text']}"}

    nested = create_workflow("agent-step-nested-workflow", input_schema=Prompts)
    nested.map({"agentName": {"value": "test-agent-1"}, "prompt": {"init_data": nested, "path": "prompt1"}})
    nested.then(agent_step)
    nested.map({"agentName": {"value": "test-agent-2"}, "prompt": {"init_data": nested, "path": "prompt2"}})
    nested.then(agent_step_2).then(create_step("final-step", execute=final)).commit()
    workflow = create_workflow("agent-step-nested-parent", input_schema=Prompts).then(nested).commit()
    result = await harness.execute(workflow, CAPITALS)
    assert result.status == "success"
    assert exact(result.steps["agent-step-nested-workflow"]) == {
        "status": "success",
        "output": {"text": "Paris London"},
        "payload": CAPITALS,
    }


async def test_should_be_able_to_use_an_agent_in_parallel(harness: Harness) -> None:
    """P M171: should be able to use an agent in parallel (each agent wrapped in a nested workflow)."""
    nested_1 = create_workflow("agent-parallel-nested-1", input_schema=Prompt)
    nested_1.then(create_step(agent("agent-parallel-1", "Paris"))).commit()
    nested_2 = create_workflow("agent-parallel-nested-2", input_schema=Prompt)
    nested_2.then(create_step(agent("agent-parallel-2", "London"))).commit()
    seen: list[Any] = shared_list()

    def final(ctx: StepContext) -> Any:
        seen.append(ctx.input_data)
        return {"combined": " ".join(value["text"] for value in ctx.input_data.values())}

    workflow = (
        create_workflow("agent-parallel", input_schema=Prompt)
        .parallel([nested_1, nested_2])
        .then(create_step("finalStep", execute=final))
        .commit()
    )
    result = await harness.execute(workflow, {"prompt": "Capital?"})
    assert result.status == "success"
    assert seen == [
        {"agent-parallel-nested-1": {"text": "Paris"}, "agent-parallel-nested-2": {"text": "London"}}
    ]
    assert result.result == {"combined": "Paris London"}


def double(value: int) -> dict[str, int]:
    """Doubles a number."""
    return {"doubled": value * 2}


async def test_should_run_tool_and_agent_steps_in_parallel(harness: Harness) -> None:
    """interoperability #5: should run tool and agent steps in parallel.

    The tool is a pydantic-ai ``Tool``; the agent step takes ``{prompt}`` from the
    same input and outputs ``{text}``.
    """
    double_tool = Tool(double, name="double-tool")
    writer = create_step(agent("writer", "hello ", "world"))
    workflow = (
        create_workflow("agent-interop-tool-and-agent").parallel([create_step(double_tool), writer]).commit()
    )
    result = await harness.execute(workflow, {"value": 4, "prompt": "hi"})
    assert result.status == "success"
    assert result.steps["double-tool"].status == "success"
    assert result.steps["double-tool"].output == {"doubled": 8}
    assert result.steps["writer"].status == "success"
    assert result.steps["writer"].output == {"text": "hello world"}
    assert workflow.steps["double-tool"].component == "TOOL"
    assert workflow.steps["double-tool"].description == "Doubles a number."
    assert workflow.steps["writer"].component == "AGENT"


async def test_should_resolve_a_string_id_tool_from_the_mastra_registry_at_execution(
    harness: Harness,
) -> None:
    """interoperability #6: should resolve a string-id tool from the Mastra registry at execution.

    The tool is registered after the workflow is defined: only the run looks it up.
    """
    workflow = create_workflow("agent-interop-tool-by-id", input_schema=Value).tool("double-tool").commit()
    register_tool(Tool(double, name="double-tool"))
    result = await harness.execute(workflow, {"value": 7})
    assert result.status == "success"
    assert result.steps["double-tool"].status == "success"
    assert result.steps["double-tool"].output == {"doubled": 14}
    assert workflow.steps["double-tool"].component == "TOOL"


async def test_should_accept_a_typed_function_as_a_tool_step(harness: Harness) -> None:
    """P rule 2: a typed plain function is a tool step; its parameters are its input schema."""

    async def triple(value: int) -> dict[str, int]:
        """Triples a number."""
        return {"tripled": value * 3}

    workflow = create_workflow("agent-interop-function-tool").tool(triple).commit()
    result = await harness.execute(workflow, {"value": 5})
    assert result.status == "success"
    assert result.steps["triple"].output == {"tripled": 15}
    assert workflow.steps["triple"].component == "TOOL"
    bad = await harness.execute(workflow, {"value": "five"})
    assert bad.status == "failed"
    assert "Step input validation failed" in bad.steps["triple"].error.message


async def test_should_be_able_to_use_an_agent_as_a_step_stream(harness: Harness) -> None:
    """streaming #14: should be able to use an agent as a step (stream)."""
    workflow = two_agents_workflow(
        "agent-streaming-workflow",
        create_step(agent("test-agent-1", "Paris")),
        create_step(agent("test-agent-2", "London")),
    )
    result = await harness.execute(workflow, CAPITALS)
    assert result.status == "success"
    types = {event["type"] for event in harness.events if event["type"] != "workflow-step-output"}
    assert {"workflow-start", "workflow-step-start", "workflow-step-result", "workflow-finish"} <= types
    assert result.steps["test-agent-1"].status == "success"
    assert result.steps["test-agent-1"].output == {"text": "Paris"}
    assert result.steps["test-agent-2"].status == "success"
    assert result.steps["test-agent-2"].output == {"text": "London"}


async def test_should_pass_agent_options_when_wrapping_agent_with_create_step(harness: Harness) -> None:
    """streaming #15: should pass agentOptions when wrapping agent with createStep."""
    spy = ModelSpy()
    wrapped = agent("test-agent-with-options", "Response", spy=spy, instructions="original instructions")
    step = create_step(wrapped, instructions="overridden instructions", temperature=0.7)
    workflow = (
        create_workflow("agent-streaming-options").map({"prompt": {"value": "test"}}).then(step).commit()
    )
    result = await harness.execute(workflow, {"prompt": "Test prompt"})
    assert result.status == "success"
    assert result.steps["test-agent-with-options"].status == "success"
    assert result.steps["test-agent-with-options"].output == {"text": "Response"}
    assert len(spy.requests) == 1
    assert spy.requests[0]["settings"]["temperature"] == 0.7
    assert "overridden instructions" in spy.requests[0]["instructions"]
    assert spy.requests[0]["prompt"] == "test"


async def test_should_pass_model_settings_when_wrapping_agent_with_create_step(harness: Harness) -> None:
    """P M18: should pass agentOptions when wrapping agent with createStep (``model_settings`` form)."""
    spy = ModelSpy()
    step = create_step(
        agent("agent-model-settings", "Response", spy=spy), model_settings={"temperature": 0.7}
    )
    workflow = create_workflow("agent-streaming-model-settings", input_schema=Prompt).then(step).commit()
    result = await harness.execute(workflow, {"prompt": "Test prompt"})
    assert result.status == "success"
    assert result.result == {"text": "Response"}
    assert spy.requests[0]["settings"]["temperature"] == 0.7


async def test_should_pass_agent_options_with_callbacks_when_wrapping_agent_with_create_step(
    harness: Harness,
) -> None:
    """streaming #16: should pass agentOptions with callbacks when wrapping agent with createStep."""
    spy = ModelSpy()
    finished: list[Any] = shared_list()
    chunks: list[dict[str, Any]] = shared_list()
    wrapped = agent("test-agent-callbacks", "Response", spy=spy, instructions="original instructions")
    step = create_step(
        wrapped,
        max_steps=5,
        on_finish=finished.append,
        on_chunk=chunks.append,
        instructions="overridden instructions",
        temperature=0.7,
    )
    workflow = create_workflow("agent-streaming-callbacks", input_schema=Prompt).then(step).commit()
    result = await harness.start(
        workflow, {"prompt": "Test prompt"}, run_id=f"test-run-id-options-{uuid.uuid4()}"
    )
    assert result.status == "success"
    assert result.result == {"text": "Response"}
    assert len(spy.requests) == 1
    assert "overridden instructions" in spy.requests[0]["instructions"]
    assert "original instructions" not in spy.requests[0]["instructions"]
    assert spy.requests[0]["settings"]["temperature"] == 0.7
    assert len(finished) == 1
    assert finished[0].output == "Response"
    chunk_types = [chunk["type"] for chunk in chunks]
    assert chunk_types[0] == "start"
    assert "text-delta" in chunk_types


async def test_should_be_able_to_use_an_agent_as_a_step_with_detailed_events_stream_vnext(
    harness: Harness,
) -> None:
    """streaming #17: should be able to use an agent as a step with detailed events (stream vNext).

    Also P M16: agent chunks arrive as ``workflow-step-output`` events (``from:
    "USER"``, the chunk itself ``from: "AGENT"``) and ``workflow-finish`` reports
    the usage summed over the agents. Our per-agent chunk sequence closes the text
    part with ``text-end`` where the spec's mock model streamed a second ``text-start``.
    """
    workflow = two_agents_workflow(
        "agent-streaming-detailed",
        create_step(agent("test-agent-1", "Paris")),
        create_step(agent("test-agent-2", "London")),
    )
    run_id = f"test-run-id-{uuid.uuid4()}"
    result = await harness.execute(workflow, CAPITALS, run_id=run_id)
    assert result.status == "success"
    outputs = [event for event in harness.events if event["type"] == "workflow-step-output"]
    per_agent = ["start", "step-start", "text-start", "text-delta", "text-end", "step-finish", "finish"]
    assert [event["payload"]["output"]["type"] for event in outputs] == per_agent * 2
    assert {event["from"] for event in outputs} == {"USER"}
    assert {event["payload"]["output"]["from"] for event in outputs} == {"AGENT"}
    assert [event["payload"]["step_name"] for event in outputs] == ["test-agent-1"] * 7 + ["test-agent-2"] * 7
    deltas = [
        event["payload"]["output"]["payload"]["text"]
        for event in outputs
        if event["payload"]["output"]["type"] == "text-delta"
    ]
    assert deltas == ["Paris", "London"]
    others = [event for event in harness.events if event["type"] != "workflow-step-output"]
    assert (others[0]["type"], others[0]["run_id"]) == ("workflow-start", run_id)
    assert (others[-1]["type"], others[-1]["run_id"]) == ("workflow-finish", run_id)
    per_request = [
        event["payload"]["output"]["payload"]["usage"]
        for event in outputs
        if event["payload"]["output"]["type"] == "step-finish"
    ]
    total = {name: sum(usage[name] for usage in per_request) for name in per_request[0]}
    assert total["total_tokens"] > 0
    assert others[-1]["payload"]["output"]["usage"] == total


async def test_should_be_able_to_use_an_agent_as_a_step_non_streaming(harness: Harness) -> None:
    """streaming #18: should be able to use an agent as a step (non-streaming)."""
    first = agent("test-agent-1", "Paris", description="test-agent-1 description")
    second = agent("test-agent-2", "London", description="test-agent-2 description")
    workflow = two_agents_workflow("agent-non-streaming", create_step(first), create_step(second))
    result = await harness.start(workflow, CAPITALS)
    assert result.status == "success"
    assert exact(result.steps["test-agent-1"]) == {
        "status": "success",
        "output": {"text": "Paris"},
        "payload": {"prompt": "Capital of France, just the name"},
    }
    assert exact(result.steps["test-agent-2"]) == {
        "status": "success",
        "output": {"text": "London"},
        "payload": {"prompt": "Capital of UK, just the name"},
    }
    assert workflow.steps["test-agent-1"].description == "test-agent-1 description"
    assert workflow.steps["test-agent-1"].component == "AGENT"
    assert workflow.steps["test-agent-2"].component == "AGENT"


class Article(BaseModel):
    title: str
    summary: str
    tags: list[str]


async def test_should_pass_structured_output_from_agent_step_to_next_step_with_correct_types(
    harness: Harness,
) -> None:
    """streaming #23: should pass structured output from agent step to next step with correct types."""
    article = {"title": "Python", "summary": "A language", "tags": ["programming", "language"]}
    writer = create_step(Agent(structured(article), name="article-agent"), structured_output=Article)

    def process(ctx: StepContext) -> Any:
        return {"processed": True, "tagCount": len(ctx.input_data["tags"])}

    workflow = (
        create_workflow("agent-structured-output", input_schema=Prompt)
        .then(writer)
        .then(create_step("process-article", execute=process, input_schema=Article))
        .commit()
    )
    result = await harness.start(workflow, {"prompt": "Write about Python"})
    assert result.status == "success"
    assert result.steps["article-agent"].output == article
    assert result.result == {"processed": True, "tagCount": 2}
    assert workflow.steps["article-agent"].output_schema is Article
