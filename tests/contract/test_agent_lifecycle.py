"""Agent steps as steps like any other: cancel, retry, suspend and resume, models
chosen at run time, workflows handed to agents as tools (catalog P DS2-DS3, M M190).

Workflow ids carry the ``agent-life-`` prefix.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

from workflows_app import StepContext, create_step, create_workflow
from workflows_app.core import runtime
from workflows_app.testing import awaituntil

from .agent_fakes import Hanging, ModelSpy, agent, answering, calling, streamed
from .conftest import ENGINES, Calls, Harness
from .processes import shared_list
from .shapes import Prompt


class Approval(BaseModel):
    approved: bool


@pytest.fixture
def endless_grace() -> Iterator[None]:
    """A cancel grace longer than any test: a step that does not stop on its abort signal outlives it."""
    saved = runtime.get_engine_options()
    grace = {"cancel_grace_seconds": 3600.0}
    runtime.configure(engine_options={name: {**saved.get(name, {}), **grace} for name in ENGINES})
    runtime.reset_storage()
    yield
    runtime.configure(engine_options=saved)
    runtime.reset_storage()


async def test_should_propagate_abort_signal_to_agent_step_in_nested_workflow_when_parent_is_cancelled(
    endless_grace: None, harness: Harness
) -> None:
    """M M190: should propagate abort signal to agent step in nested workflow when parent is cancelled.

    The model call in flight is cancelled when the abort signal fires, not when the
    cancel grace ends (an hour here); the run ends ``canceled``.
    """
    hanging = Hanging()
    nested = (
        create_workflow("agent-life-cancel-nested", input_schema=Prompt)
        .then(create_step(Agent(hanging.model(), name="hanging-agent")))
        .commit()
    )
    workflow = create_workflow("agent-life-cancel-parent", input_schema=Prompt).then(nested).commit()
    run_id = f"agent-life-cancel-{uuid.uuid4().hex[:12]}"
    running = asyncio.ensure_future(harness.execute(workflow, {"prompt": "wait"}, run_id=run_id))
    await awaituntil(lambda: "started" in hanging.seen or running.done())
    run = await workflow.acreate_run(run_id=run_id, engine=harness.engine)
    await run.acancel()
    result = await running
    assert result.status == "canceled"
    # The abort reaches the step at once (the cancel's broadcast) or at its next lease renewal
    # (10 s); only the agent step's race against it ends the model call long before the grace.
    await awaituntil(lambda: "cancelled" in hanging.seen, timeout=30)
    assert hanging.seen == ["started", "cancelled"]


async def test_should_retry_an_agent_step_like_any_step(harness: Harness) -> None:
    """L for agent steps: a failed model call is retried under the step's ``retries``."""
    attempts: list[int] = shared_list()

    async def flaky(messages: list[ModelMessage], info: AgentInfo) -> Any:
        attempts.append(len(attempts))
        if len(attempts) == 1:
            raise RuntimeError("model unavailable")
        yield "second time lucky"

    step = create_step(Agent(FunctionModel(stream_function=flaky), name="flaky-agent"), retries=1)
    workflow = create_workflow("agent-life-retry", input_schema=Prompt).then(step).commit()
    result = await harness.execute(workflow, {"prompt": "try"})
    assert result.status == "success"
    assert result.result == {"text": "second time lucky"}
    assert attempts == [0, 1]
    no_retry = create_workflow("agent-life-no-retry", input_schema=Prompt)
    no_retry.then(create_step(Agent(FunctionModel(stream_function=flaky), name="flaky-agent"))).commit()
    attempts.clear()
    failed = await harness.execute(no_retry, {"prompt": "try"})
    assert failed.status == "failed"
    assert "model unavailable" in str(failed.steps["flaky-agent"].error)
    assert attempts == [0]


def draft_and_publish(workflow_id: str, spy: ModelSpy, calls: Calls) -> Any:
    """draft (agent) -> approval (suspends until a human answers) -> publish."""

    async def approval(ctx: StepContext) -> Any:
        calls.hit("approval")
        if ctx.resume_data is None:
            return await ctx.suspend({"draft": ctx.input_data["text"]})
        return {**ctx.input_data, **ctx.resume_data}

    async def publish(ctx: StepContext) -> Any:
        calls.hit("publish")
        return {"published": ctx.input_data["approved"], "text": ctx.input_data["text"]}

    return (
        create_workflow(workflow_id, input_schema=Prompt)
        .then(create_step(agent("drafter", "A ", "draft", spy=spy)))
        .then(create_step("approval", execute=approval, resume_schema=Approval))
        .then(create_step("publish", execute=publish))
        .commit()
    )


async def test_should_suspend_after_an_agent_step_and_resume_without_calling_the_model_again(
    harness: Harness, calls: Calls
) -> None:
    """H with an agent step: the draft is kept across suspend and resume, not regenerated."""
    spy = ModelSpy()
    workflow = draft_and_publish("agent-life-draft-approve", spy, calls)
    run_id = f"agent-life-approve-{uuid.uuid4().hex[:12]}"
    suspended = await harness.execute(workflow, {"prompt": "Write a draft"}, run_id=run_id)
    assert suspended.status == "suspended"
    assert suspended.suspended == [["approval"]]
    assert suspended.steps["approval"].suspend_payload == {"draft": "A draft"}
    result = await harness.resume(workflow, run_id, {"approved": True}, step="approval")
    assert result.status == "success"
    assert result.result == {"published": True, "text": "A draft"}
    assert len(spy.requests) == 1
    assert (calls["approval"], calls["publish"]) == (2, 1)


async def test_should_run_an_agent_step_with_a_model_named_at_run_time(harness: Harness) -> None:
    """A model string pydantic-ai accepts, or a function of the step context, picks the model per run."""
    fixed = create_step(Agent(name="agent-by-string"), model="test")
    by_context = create_step(
        Agent(name="agent-by-context"),
        model=lambda ctx: answering(ctx.request_context["answer"]),
    )
    workflow = (
        create_workflow("agent-life-model-at-run-time", input_schema=Prompt)
        .parallel([fixed, by_context])
        .commit()
    )
    result = await harness.execute(workflow, {"prompt": "hi"}, request_context={"answer": "from context"})
    assert result.status == "success"
    assert result.steps["agent-by-string"].output == {"text": "success (no tool calls)"}
    assert result.steps["agent-by-context"].output == {"text": "from context"}


class Task(BaseModel):
    task_id: str


async def test_should_pass_workflow_input_to_the_first_step_when_called_as_agent_tool(
    harness: Harness, calls: Calls
) -> None:
    """P DS2: should pass workflow input to the first step when called as agent tool via stream."""

    async def first(ctx: StepContext) -> Any:
        calls.hit("first", ctx.input_data)
        return {"done": ctx.input_data["task_id"]}

    task_workflow = (
        create_workflow("agent-life-task-workflow", input_schema=Task, description="Runs a task")
        .then(create_step("first", execute=first, input_schema=Task))
        .commit()
    )
    tool = task_workflow.as_tool(engine=harness.engine)
    assert tool.name == "workflow-agent-life-task-workflow"
    assert tool.description == "Runs a task"
    model = calling(tool.name, {"input_data": {"task_id": "test-task-123"}})
    result = await Agent(model, tools=[tool]).run("Run the task")
    assert calls.inputs["first"] == [{"task_id": "test-task-123"}]
    answer = json.loads(result.output)
    assert (answer["status"], answer["result"]) == ("success", {"done": "test-task-123"})


async def test_should_pass_workflow_input_to_step_when_workflow_has_no_input_schema(
    harness: Harness, calls: Calls
) -> None:
    """P DS3: should pass workflow input to step when workflow has no inputSchema."""

    async def first(ctx: StepContext) -> Any:
        calls.hit("first", ctx.input_data)
        return {"seen": ctx.input_data}

    loose = create_workflow("agent-life-loose-workflow").then(create_step("first", execute=first)).commit()
    tool = loose.as_tool(engine=harness.engine)
    model = calling(tool.name, {"input_data": {"task_id": "test-task-456", "extra": 1}})
    await Agent(model, tools=[tool]).run("Run it")
    assert calls.inputs["first"] == [{"task_id": "test-task-456", "extra": 1}]


async def test_should_resume_a_suspended_workflow_through_its_agent_tool(
    harness: Harness, calls: Calls
) -> None:
    """A workflow tool that suspends answers with its run id; a second call resumes that run."""
    spy = ModelSpy()
    workflow = draft_and_publish("agent-life-tool-approval", spy, calls)
    tool = workflow.as_tool(engine=harness.engine)
    run_ids: list[str] = shared_list()

    async def decide(messages: list[ModelMessage], info: AgentInfo) -> Any:
        answers = [
            part.content for message in messages for part in message.parts if part.part_kind == "tool-return"
        ]
        if not answers:
            yield _tool_call(tool.name, {"input_data": {"prompt": "Write a draft"}}, "c1")
        elif len(answers) == 1:
            assert answers[0]["status"] == "suspended"
            assert answers[0]["suspend_payloads"] == {"approval": {"draft": "A draft"}}
            run_ids.append(answers[0]["run_id"])
            resume = {"suspended_tool_run_id": answers[0]["run_id"], "resume_data": {"approved": True}}
            yield _tool_call(tool.name, resume, "c2")
        else:
            yield json.dumps(answers[-1]["result"])

    result = await Agent(streamed(decide), tools=[tool]).run("Draft and publish")
    assert json.loads(result.output) == {"published": True, "text": "A draft"}
    stored = await workflow.aget_run(run_ids[0])
    assert stored is not None
    assert stored.status == "success"
    assert (calls["approval"], calls["publish"]) == (2, 1)


def _tool_call(name: str, arguments: dict[str, Any], call_id: str) -> Any:
    return {0: DeltaToolCall(name=name, json_args=json.dumps(arguments), tool_call_id=call_id)}


async def test_the_announcement_demo_drafts_waits_for_approval_and_publishes(
    harness: Harness, monkeypatch: Any
) -> None:
    """The demo (project/demo/workflows.py) with no API key: pydantic-ai's TestModel drafts."""
    from project.demo.workflows import announcement

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("WORKFLOWS_DEMO_MODEL", raising=False)
    run_id = f"agent-life-demo-{uuid.uuid4().hex[:12]}"
    suspended = await harness.execute(announcement, {"topic": "dark mode"}, run_id=run_id)
    assert suspended.status == "suspended"
    assert suspended.steps["drafter"].output == {"text": "Announcing dark mode!"}
    assert suspended.steps["human-review"].suspend_payload == {
        "question": "Publish this announcement?",
        "draft": "Announcing dark mode!",
    }
    result = await harness.resume(announcement, run_id, {"approved": True, "text": "Dark mode is here."})
    assert result.status == "success"
    assert result.result == {"published": True, "text": "Dark mode is here."}
