"""Tripwires from agent processors (spec: streaming #20-#22, catalog P M204-M206).

Input processors see the prompt, output processors each streamed chunk
(``process_output_stream``) and the final output (``process_output_result``);
any of them may call ``abort(reason, retry=..., metadata=...)``. The run then
ends with status ``tripwire`` and ``result.tripwire`` names the processor. Each
kind is checked through ``start`` and through ``stream``. Workflow ids carry the
``agent-tripwire-`` prefix.
"""

from __future__ import annotations

from typing import Any

from workflows_app import Processor, WorkflowResult, create_step, create_workflow
from workflows_app.core.processors import Abort

from .agent_fakes import ModelSpy, agent
from .conftest import Harness
from .processes import shared_list
from .shapes import Prompt


class BlockInput(Processor):
    """Stops prompts that contain a word."""

    def __init__(self, id: str, word: str, reason: str, **options: Any) -> None:
        super().__init__(id)
        self.word, self.reason, self.options = word, reason, options

    async def process_input(self, prompt: str, abort: Abort) -> str:
        if self.word in prompt:
            abort(self.reason, **self.options)
        return prompt


class BlockStream(Processor):
    """Stops the stream at the first text delta that contains a word."""

    def __init__(self, id: str, word: str, reason: str, **options: Any) -> None:
        super().__init__(id)
        self.word, self.reason, self.options = word, reason, options
        self.seen: list[str] = shared_list()

    async def process_output_stream(self, chunk: dict[str, Any], abort: Abort) -> dict[str, Any] | None:
        self.seen.append(chunk["type"])
        if chunk["type"] == "text-delta" and self.word in chunk["payload"]["text"]:
            abort(self.reason, **self.options)
        return chunk


class BlockResult(Processor):
    """Stops an output that contains a word, once the agent has answered."""

    def __init__(self, id: str, word: str, reason: str, **options: Any) -> None:
        super().__init__(id)
        self.word, self.reason, self.options = word, reason, options

    def process_output_result(self, output: Any, abort: Abort) -> Any:  # a sync hook works too
        if self.word in output:
            abort(self.reason, **self.options)
        return output


def agent_workflow(workflow_id: str, model_pieces: tuple[str, ...], spy: ModelSpy, **options: Any) -> Any:
    step = create_step(agent(f"{workflow_id}-agent", *model_pieces, spy=spy), **options)
    return create_workflow(workflow_id, input_schema=Prompt).then(step).commit()


def assert_tripwire(result: WorkflowResult, expected: dict[str, Any]) -> None:
    assert result.status == "tripwire"
    assert result.tripwire == expected
    assert result.result is None
    assert result.error is None


async def test_should_bubble_up_tripwire_from_agent_input_processor_to_workflow_result(
    harness: Harness,
) -> None:
    """streaming #20: should bubble up tripwire from agent input processor to workflow result.

    The model is never called.
    """
    spy = ModelSpy()
    processor = BlockInput(
        "tripwire-processor",
        "blocked",
        "Content blocked by policy",
        retry=True,
        metadata={"severity": "high"},
    )
    workflow = agent_workflow("agent-tripwire-input", ("Hello",), spy, input_processors=[processor])
    result = await harness.start(workflow, {"prompt": "This message contains blocked content"})
    assert_tripwire(
        result,
        {
            "reason": "Content blocked by policy",
            "retry": True,
            "metadata": {"severity": "high"},
            "processor_id": "tripwire-processor",
        },
    )
    assert spy.requests == []
    allowed = await harness.start(workflow, {"prompt": "A harmless message"})
    assert allowed.status == "success"
    assert allowed.result == {"text": "Hello"}


async def test_should_return_tripwire_status_when_streaming_agent_in_workflow(harness: Harness) -> None:
    """streaming #21: should return tripwire status when streaming agent in workflow.

    An input processor, through ``stream``; the stream ends with a
    ``workflow-finish`` whose status is ``tripwire``.
    """
    spy = ModelSpy()
    processor = BlockInput(
        "stream-tripwire-processor", "forbidden", "Forbidden content detected", metadata={"type": "forbidden"}
    )
    workflow = agent_workflow("agent-tripwire-input-stream", ("Hello",), spy, input_processors=[processor])
    events, result = await harness.stream(workflow, {"prompt": "Something forbidden"})
    assert_tripwire(
        result,
        {
            "reason": "Forbidden content detected",
            "retry": False,
            "metadata": {"type": "forbidden"},
            "processor_id": "stream-tripwire-processor",
        },
    )
    assert events[-1]["type"] == "workflow-finish"
    assert events[-1]["payload"]["workflow_status"] == "tripwire"
    assert spy.requests == []


async def test_should_handle_tripwire_from_output_stream_processor_in_agent_within_workflow(
    harness: Harness,
) -> None:
    """streaming #22: should handle tripwire from output stream processor in agent within workflow.

    The chunk that tripped is not streamed; the step after the agent never runs.
    """
    spy = ModelSpy()
    processor = BlockStream(
        "output-stream-tripwire-processor",
        "inappropriate",
        "Output contains inappropriate content",
        retry=True,
    )
    step = create_step(
        agent("agent-tripwire-stream-agent", "This is ", "inappropriate", " text", spy=spy),
        output_processors=[processor],
    )
    after: list[Any] = shared_list()
    workflow = (
        create_workflow("agent-tripwire-output-stream", input_schema=Prompt)
        .then(step)
        .then(create_step("after", execute=lambda ctx: after.append(ctx.input_data)))
        .commit()
    )
    result = await harness.start(workflow, {"prompt": "Say something"})
    assert_tripwire(
        result,
        {
            "reason": "Output contains inappropriate content",
            "retry": True,
            "metadata": None,
            "processor_id": "output-stream-tripwire-processor",
        },
    )
    assert after == []
    assert "after" not in result.steps
    assert processor.seen[:3] == ["start", "step-start", "text-start"]


async def test_should_handle_tripwire_from_output_stream_processor_through_stream(harness: Harness) -> None:
    """P M206 through ``stream``: chunks before the tripwire are streamed, the tripping one is not."""
    spy = ModelSpy()
    processor = BlockStream("output-stream-processor", "inappropriate", "Inappropriate", metadata={"n": 1})
    workflow = agent_workflow(
        "agent-tripwire-output-stream-stream",
        ("This is ", "inappropriate", " text"),
        spy,
        output_processors=[processor],
    )
    events, result = await harness.stream(workflow, {"prompt": "Say something"})
    assert_tripwire(
        result,
        {
            "reason": "Inappropriate",
            "retry": False,
            "metadata": {"n": 1},
            "processor_id": "output-stream-processor",
        },
    )
    texts = [
        event["payload"]["output"]["payload"]["text"]
        for event in events
        if event["type"] == "workflow-step-output" and event["payload"]["output"]["type"] == "text-delta"
    ]
    assert texts == ["This is "]
    assert events[-1]["payload"]["workflow_status"] == "tripwire"


async def test_should_handle_tripwire_from_output_result_processor(harness: Harness) -> None:
    """Tripwire from an output processor's ``process_output_result``, through ``start``.

    Called without a reason, ``abort`` names the processor in the default one.
    """
    spy = ModelSpy()
    processor = BlockResult("result-processor", "secret", "")
    workflow = agent_workflow(
        "agent-tripwire-output-result", ("the ", "secret", " plan"), spy, output_processors=[processor]
    )
    result = await harness.start(workflow, {"prompt": "Tell me"})
    assert_tripwire(
        result,
        {
            "reason": "Tripwire triggered by result-processor",
            "retry": False,
            "metadata": None,
            "processor_id": "result-processor",
        },
    )
    assert len(spy.requests) == 1


async def test_should_handle_tripwire_from_output_result_processor_through_stream(harness: Harness) -> None:
    """Tripwire from ``process_output_result``, through ``stream``.

    The whole answer was streamed first, and the tokens it cost still count in
    ``workflow-finish``.
    """
    spy = ModelSpy()
    processor = BlockResult("result-processor", "secret", "Leaks a secret", retry=True, metadata=["x"])
    workflow = agent_workflow(
        "agent-tripwire-output-result-stream", ("the ", "secret", " plan"), spy, output_processors=[processor]
    )
    events, result = await harness.stream(workflow, {"prompt": "Tell me"})
    assert_tripwire(
        result,
        {"reason": "Leaks a secret", "retry": True, "metadata": ["x"], "processor_id": "result-processor"},
    )
    chunk_types = [
        event["payload"]["output"]["type"] for event in events if event["type"] == "workflow-step-output"
    ]
    assert chunk_types[-1] == "finish"
    finish = events[-1]
    assert finish["payload"]["workflow_status"] == "tripwire"
    assert finish["payload"]["output"]["usage"]["total_tokens"] > 0
