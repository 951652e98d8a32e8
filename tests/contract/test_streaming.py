"""Streaming and stream events (spec: streaming #1-#12).

Every run here goes through ``run.astream()`` or ``run.aresume_stream()``. We have
one stream format, the spec's ``stream()`` one; the spec's ``streamLegacy`` tests
(#6, #7, #10) are mapped onto it: ``start`` -> ``workflow-start``, ``step-start``
-> ``workflow-step-start``, ``step-result`` -> ``workflow-step-result``,
``step-suspended`` -> ``workflow-step-suspended``, ``finish`` ->
``workflow-finish``. The legacy ``step-finish`` (``{id, metadata: {}}``) says
nothing a ``workflow-step-result`` does not, and has no counterpart (section
4.3 B: no step-finish chunk). ``getWorkflowState()`` maps to ``stream.result()``.

#13-#23 stream real agents (mock language models, agent options, tripwires,
structured output) and belong with the agent integration. Workflow ids carry the
``stream-`` prefix.
"""

from __future__ import annotations

import asyncio
from typing import Any
from unittest.mock import ANY

from pydantic import BaseModel

from workflows_app import Step, Workflow, create_step, create_workflow

from .conftest import Calls, Harness
from .processes import shared_list
from .shapes import Empty, Input, TextValue, UserInput, returning


class Counter(BaseModel):
    counter: int


class ModelOutput(BaseModel):
    modelOutput: str


def subset(record: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``record`` that ``expected`` names, to compare as the spec's partial match."""
    return {key: record.get(key) for key in expected}


def two_step_workflow(calls: Calls, workflow_id: str) -> Workflow:
    """step1 {result: success1} -> step2 {result: success2}; inputs are not validated."""
    step1 = returning(calls, "step1", {"result": "success1"}, input_schema=Empty)
    step2 = returning(calls, "step2", {"result": "success2"}, input_schema=TextValue)
    return (
        create_workflow(workflow_id, input_schema=Empty, validate_inputs=False)
        .then(step1)
        .then(step2)
        .commit()
    )


def prompt_workflow(calls: Calls, workflow_id: str) -> tuple[Workflow, Step]:
    """getUserInput -> promptAgent (suspends with no payload once) -> evaluateToneConsistency."""

    async def prompt(ctx: Any) -> Any:
        calls.hit("promptAgent", ctx.input_data)
        if calls["promptAgent"] == 1:
            await ctx.suspend()
            return None
        return {"modelOutput": "test output"}

    get_user_input = returning(calls, "getUserInput", {"userInput": "test input"}, input_schema=Input)
    prompt_agent = create_step("promptAgent", execute=prompt, input_schema=UserInput)
    evaluate = returning(
        calls,
        "evaluateToneConsistency",
        {"toneScore": {"score": 0.8}, "completenessScore": {"score": 0.7}},
        input_schema=ModelOutput,
    )
    workflow = (
        create_workflow(workflow_id, input_schema=Input)
        .then(get_user_input)
        .then(prompt_agent)
        .then(evaluate)
        .commit()
    )
    return workflow, prompt_agent


RESUME_DATA = {"stepId": "promptAgent", "context": {"userInput": "test input for resumption"}}


# -- Streaming --------------------------------------------------------------------------


async def test_should_execute_workflow_that_could_be_streamed(harness: Harness, calls: Calls) -> None:
    """streaming #1: should execute workflow that could be streamed."""
    workflow = two_step_workflow(calls, "stream-test-workflow")
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert (calls["step1"], calls["step2"]) == (1, 1)
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"result": "success1"}
    assert result.steps["step2"].status == "success"
    assert result.steps["step2"].output == {"result": "success2"}


async def test_should_track_step_execution_order_in_workflow_result(harness: Harness) -> None:
    """streaming #2: should track step execution order in workflow result."""
    order: list[str] = shared_list()

    def recording(step_id: str, output: Any) -> Step:
        def execute(ctx: Any) -> Any:
            order.append(step_id)
            return output

        return create_step(step_id, execute=execute)

    workflow = (
        create_workflow("stream-execution-order-workflow", input_schema=Empty)
        .then(recording("step1", {"value": "step1-done"}))
        .then(recording("step2", {"value": "step2-done"}))
        .then(recording("step3", {"result": "complete"}))
        .commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert order == ["step1", "step2", "step3"]
    assert [result.steps[s].status for s in ("step1", "step2", "step3")] == ["success"] * 3


async def test_should_execute_workflow_with_state_that_could_be_streamed(harness: Harness) -> None:
    """streaming #3: should execute workflow with state that could be streamed."""

    async def first(ctx: Any) -> Any:
        await ctx.set_state({**ctx.state, "counter": ctx.state["counter"] + 1})
        return {"value": "step1-done"}

    async def second(ctx: Any) -> Any:
        seen = ctx.state["counter"]
        await ctx.set_state({**ctx.state, "counter": seen + 1})
        return {"value": "step2-done", "finalCounter": seen}

    step1 = create_step("step1", execute=first, input_schema=Empty, state_schema=Counter)
    step2 = create_step("step2", execute=second, input_schema=TextValue, state_schema=Counter)
    workflow = (
        create_workflow("stream-with-state-workflow", input_schema=Empty, state_schema=Counter)
        .then(step1)
        .then(step2)
        .commit()
    )
    result = await harness.execute(workflow, {}, initial_state={"counter": 0})
    assert result.status == "success"
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"value": "step1-done"}
    assert result.steps["step2"].status == "success"
    assert result.steps["step2"].output["finalCounter"] == 1


async def test_should_execute_workflow_with_parallel_steps_that_could_be_streamed(
    harness: Harness, calls: Calls
) -> None:
    """streaming #4: should execute workflow with parallel steps that could be streamed."""
    steps = [returning(calls, f"step{n}", {"result": f"parallel-{n}"}, input_schema=Empty) for n in (1, 2, 3)]
    workflow = create_workflow("stream-parallel-workflow", input_schema=Empty).parallel(steps).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    for n in (1, 2, 3):
        assert result.steps[f"step{n}"].status == "success"
        assert result.steps[f"step{n}"].output == {"result": f"parallel-{n}"}


async def test_should_execute_workflow_that_suspends_streamable_without_closing(
    harness: Harness, calls: Calls
) -> None:
    """streaming #5: should execute workflow that suspends (streamable without closing)."""

    async def wait_for_input(ctx: Any) -> Any:
        calls.hit("step2", ctx.input_data)
        return await ctx.suspend({"reason": "waiting for input"})

    step1 = returning(calls, "step1", {"value": "step1-done"}, input_schema=Empty)
    step2 = create_step("step2", execute=wait_for_input, input_schema=TextValue)
    workflow = create_workflow("stream-suspend-workflow", input_schema=Empty).then(step1).then(step2).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "suspended"
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"value": "step1-done"}
    assert result.steps["step2"].status == "suspended"
    assert result.steps["step2"].suspend_payload == {"reason": "waiting for input"}


# -- Stream Events ------------------------------------------------------------------------


async def test_should_produce_correct_stream_legacy_events(harness: Harness, calls: Calls) -> None:
    """streaming #6: should produce correct streamLegacy events (in our one format, see module doc)."""
    workflow = two_step_workflow(calls, "stream-legacy-events-workflow")
    events, result = await harness.stream(workflow, {})
    assert result.status == "success"
    types = [e["type"] for e in events]
    for wanted in ("workflow-start", "workflow-step-start", "workflow-step-result", "workflow-finish"):
        assert wanted in types
    start = next(e for e in events if e["type"] == "workflow-start")
    assert start["payload"] == {"run_id": result.run_id}
    assert types.count("workflow-step-start") == 2
    step_results = [e for e in events if e["type"] == "workflow-step-result"]
    assert len(step_results) == 2
    assert step_results[0]["payload"]["status"] == "success"


async def test_should_generate_stream_with_detailed_event_structure(harness: Harness, calls: Calls) -> None:
    """streaming #7: should generate stream with detailed event structure (streamLegacy).

    In our format the chain gives six events (section 4.3 B), not the legacy eight:
    there is no step-finish event.
    """
    run_id = "stream-test-run-id"
    workflow = two_step_workflow(calls, "stream-detailed-events-workflow")
    events, result = await harness.stream(workflow, {}, run_id=run_id)
    assert result.status == "success"

    def step_start(step_id: str, payload: Any) -> dict[str, Any]:
        return {
            "id": step_id,
            "step_name": step_id,
            "step_call_id": ANY,
            "payload": payload,
            "started_at": ANY,
            "status": "running",
        }

    def step_result(step_id: str, output: Any) -> dict[str, Any]:
        return {
            "id": step_id,
            "step_name": step_id,
            "step_call_id": ANY,
            "output": output,
            "ended_at": ANY,
            "status": "success",
        }

    finish = {
        "workflow_status": "success",
        "metadata": {},
        "output": {"usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}},
    }
    expected = [
        ("workflow-start", {"run_id": run_id}),
        ("workflow-step-start", step_start("step1", {})),
        ("workflow-step-result", step_result("step1", {"result": "success1"})),
        ("workflow-step-start", step_start("step2", {"result": "success1"})),
        ("workflow-step-result", step_result("step2", {"result": "success2"})),
        ("workflow-finish", finish),
    ]
    assert [{k: e[k] for k in ("type", "run_id", "from", "payload")} for e in events] == [
        {"type": kind, "run_id": run_id, "from": "WORKFLOW", "payload": payload} for kind, payload in expected
    ]
    stamps = [e["payload"].get("started_at", e["payload"].get("ended_at")) for e in events[1:5]]
    assert all(isinstance(stamp, int) for stamp in stamps)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))
    assert result.steps["step1"].to_dict() == {
        "status": "success",
        "output": {"result": "success1"},
        "payload": {},
        "started_at": ANY,
        "ended_at": ANY,
    }
    assert result.steps["step2"].to_dict() == {
        "status": "success",
        "output": {"result": "success2"},
        "payload": {"result": "success1"},
        "started_at": ANY,
        "ended_at": ANY,
    }


async def test_should_produce_correct_stream_events(harness: Harness, calls: Calls) -> None:
    """streaming #8: should produce correct stream() events."""
    workflow = two_step_workflow(calls, "stream-events-workflow")
    events, result = await harness.stream(workflow, {})
    assert result.status == "success"
    types = [e["type"] for e in events]
    for wanted in ("workflow-start", "workflow-step-start", "workflow-step-result", "workflow-finish"):
        assert wanted in types
    assert all(e["from"] == "WORKFLOW" for e in events if e["type"].startswith("workflow-"))


async def test_should_handle_streaming_suspend_and_resume_flow(harness: Harness, calls: Calls) -> None:
    """streaming #9: should handle streaming suspend and resume flow."""
    workflow, prompt_agent = prompt_workflow(calls, "stream-suspend-resume-workflow")
    events, suspended = await harness.stream(workflow, {"input": "test"}, close_on_suspend=True)
    assert suspended.status == "suspended"
    types = [e["type"] for e in events]
    assert "workflow-start" in types
    assert "workflow-step-start" in types
    assert any("suspend" in t for t in types)
    assert calls["getUserInput"] == 1
    assert calls["promptAgent"] == 1
    assert calls["evaluateToneConsistency"] == 0

    run_id = next(e["run_id"] for e in events if e.get("run_id"))
    resume_events, result = await harness.resume_stream(workflow, run_id, RESUME_DATA, step=prompt_agent)
    assert result.status == "success"
    assert "workflow-finish" in [e["type"] for e in resume_events]
    assert calls["evaluateToneConsistency"] == 1


async def test_should_handle_basic_suspend_and_resume_flow_stream_legacy(
    harness: Harness, calls: Calls
) -> None:
    """streaming #10: should handle basic suspend and resume flow (streamLegacy).

    The legacy stream that stays open across a resume is ``astream(close_on_suspend=False)``;
    the resume is issued on the same run while the stream is being iterated.
    """
    workflow, prompt_agent = prompt_workflow(calls, "stream-legacy-suspend-resume-workflow")
    run = await workflow.acreate_run(engine=harness.engine)
    stream = run.astream({"input": "test"}, close_on_suspend=False)
    resumes: list[asyncio.Task[Any]] = []
    async for event in stream:
        if event["type"] == "workflow-step-suspended":
            assert calls["promptAgent"] == 1
            resumes.append(asyncio.ensure_future(run.aresume(RESUME_DATA, step=prompt_agent)))
            assert calls["evaluateToneConsistency"] == 0
    assert len(resumes) == 1
    await resumes[0]
    assert calls["evaluateToneConsistency"] == 1

    result = await stream.result()
    steps = {key: value if key == "input" else value.to_dict() for key, value in result.steps.items()}
    assert steps["input"] == {"input": "test"}
    expected = {
        "getUserInput": {
            "status": "success",
            "output": {"userInput": "test input"},
            "payload": {"input": "test"},
            "started_at": ANY,
            "ended_at": ANY,
        },
        "promptAgent": {
            "status": "success",
            "output": {"modelOutput": "test output"},
            "payload": {"userInput": "test input"},
            "started_at": ANY,
            "ended_at": ANY,
            "resume_payload": RESUME_DATA,
            "resumed_at": ANY,
            "suspended_at": ANY,
        },
        "evaluateToneConsistency": {
            "status": "success",
            "output": {"toneScore": {"score": 0.8}, "completenessScore": {"score": 0.7}},
            "payload": {"modelOutput": "test output"},
            "started_at": ANY,
            "ended_at": ANY,
        },
    }
    for step_id, record in expected.items():
        assert subset(steps[step_id], record) == record
    assert isinstance(steps["promptAgent"]["resumed_at"], int)
    assert isinstance(steps["promptAgent"]["suspended_at"], int)


def writer_workflow(workflow_id: str) -> tuple[Workflow, Step]:
    """getUserInput -> stepWithWriter, which writes a custom event, then suspends until resumed."""

    async def with_writer(ctx: Any) -> Any:
        text = (ctx.resume_data or {}).get("userInput") or ctx.input_data["userInput"]
        await ctx.writer.write({"type": "custom-event", "payload": {"input": text}})
        if ctx.resume_data is None:
            await ctx.suspend({})
        return {"modelOutput": "test output"}

    get_user_input = create_step(
        "getUserInput", execute=lambda ctx: {"userInput": ctx.input_data["input"]}, input_schema=Input
    )
    step = create_step("stepWithWriter", execute=with_writer, input_schema=UserInput, resume_schema=UserInput)
    workflow = create_workflow(workflow_id, input_schema=Input).then(get_user_input).then(step).commit()
    return workflow, step


def writer_outputs(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "workflow-step-output"]


async def test_should_handle_custom_event_emission_using_writer(harness: Harness) -> None:
    """streaming #11: should handle custom event emission using writer.

    The written object is the event's ``payload.output``, from ``USER``, with the run
    id and the step name beside it (section N, X-W1..X-W3); the resumed step writes
    again into the resume stream (M15).
    """
    workflow, step_with_writer = writer_workflow("stream-writer-custom-workflow")
    events, suspended = await harness.stream(
        workflow, {"input": "test input for stream"}, close_on_suspend=True
    )
    run_id = next(e["run_id"] for e in events if e.get("run_id"))
    [written] = writer_outputs(events)
    assert {k: written[k] for k in ("type", "run_id", "from", "payload")} == {
        "type": "workflow-step-output",
        "run_id": run_id,
        "from": "USER",
        "payload": {
            "output": {"type": "custom-event", "payload": {"input": "test input for stream"}},
            "run_id": run_id,
            "step_name": "stepWithWriter",
        },
    }
    assert suspended.status == "suspended"

    resume_events, result = await harness.resume_stream(
        workflow, run_id, {"userInput": "test input for resumption"}, step=step_with_writer
    )
    assert result.status == "success"
    assert [e["payload"]["output"] for e in writer_outputs(resume_events)] == [
        {"type": "custom-event", "payload": {"input": "test input for resumption"}}
    ]


async def test_should_handle_writer_custom_during_resume_operations(harness: Harness) -> None:
    """streaming (section N, M133): should handle writer.custom during resume operations.

    Not one of the 23 numbered tests; it pins ``writer.custom``: the chunk is the event
    itself (its own type, not wrapped), in the start stream and in the resume stream.
    """

    async def custom(ctx: Any) -> Any:
        if ctx.resume_data is None:
            await ctx.writer.custom({"type": "suspend-event", "data": {"phase": "before"}})
            await ctx.suspend({})
            return None
        await ctx.writer.custom({"type": "resume-event", "data": {"value": ctx.resume_data["value"]}})
        return {"value": ctx.resume_data["value"], "success": True}

    step = create_step("customStep", execute=custom, input_schema=Empty)
    workflow = create_workflow("stream-writer-custom-resume-workflow", input_schema=Empty).then(step).commit()
    events, suspended = await harness.stream(workflow, {})
    assert suspended.status == "suspended"
    [chunk] = [e for e in events if e["type"] == "suspend-event"]
    assert (chunk["from"], chunk["payload"]) == ("USER", {"data": {"phase": "before"}})

    resume_events, result = await harness.resume_stream(workflow, suspended.run_id, {"value": 99})
    assert result.status == "success"
    assert result.result == {"value": 99, "success": True}
    assert [e["payload"] for e in resume_events if e["type"] == "resume-event"] == [{"data": {"value": 99}}]


async def test_should_preserve_error_details_in_streaming_workflow(harness: Harness) -> None:
    """streaming #12: should preserve error details in streaming workflow."""

    def fail(ctx: Any) -> Any:
        error = Exception("Rate limit exceeded")
        error.status_code = 429  # type: ignore[attr-defined]
        error.response_headers = {  # type: ignore[attr-defined]
            "x-ratelimit-reset": "1234567890",
            "retry-after": "30",
        }
        raise error

    step = create_step("failing-step", execute=fail, input_schema=Empty)
    workflow = create_workflow("stream-error-preserve-workflow", input_schema=Empty).then(step).commit()
    _, result = await harness.stream(workflow, {})
    assert result.status == "failed"
    assert result.error is not None
    assert result.error["message"] == "Rate limit exceeded"
    assert result.error["status_code"] == 429
    assert result.error["response_headers"] == {"x-ratelimit-reset": "1234567890", "retry-after": "30"}
