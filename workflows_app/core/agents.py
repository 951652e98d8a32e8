"""Agent and tool steps backed by pydantic-ai, and workflows as agent tools.

Imported only when a pydantic-ai object is wrapped (``create_step(agent)``,
``create_step(tool)``, ``workflow.as_tool()``), so the rest of the core works
without pydantic-ai being used.

An agent step takes ``{"prompt": str}`` and returns ``{"text": str}`` or, with
``structured_output``, the structured object. It always streams: each model
event becomes an agent chunk (see :mod:`.agent_stream`) sent as a
``workflow-step-output`` event, the tokens of each model request are added to
the run's usage as the request ends, and its processors (:mod:`.processors`)
may stop the run with a tripwire. A model call cannot watch the step's abort
signal, so the agent runs in a task of its own that the signal cancels: a
canceled run stops its model call in flight at once, not after the cancel grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import BaseModel
from pydantic_ai import Agent, ModelRetry, Tool
from pydantic_ai.agent import AbstractAgent
from pydantic_ai.models import Model
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import UsageLimits

from .agent_stream import ChunkMaker
from .errors import InputValidationError, WorkflowDefinitionError
from .processors import aprocess_chunk, aprocess_input, aprocess_result
from .retry import Duration, RetryPolicy
from .run import acreate_run
from .steps import COMPONENT_AGENT, COMPONENT_TOOL, Step, signature_model

if TYPE_CHECKING:
    from .context import AbortSignal, StepContext
    from .graph import WorkflowDefinition

Callback = Callable[[Any], Any]
_T = TypeVar("_T")


class Prompt(BaseModel):
    """The input of an agent step."""

    prompt: str


class Text(BaseModel):
    """The output of an agent step without structured output."""

    text: str


@dataclass(frozen=True)
class AgentOptions:
    """How an agent step calls its agent; fixed when the step is defined."""

    instructions: str | None = None
    model: Any = None
    model_settings: dict[str, Any] = field(default_factory=dict)
    max_steps: int | None = None
    structured_output: Any = None
    on_chunk: Callback | None = None
    on_finish: Callback | None = None
    input_processors: tuple[Any, ...] = ()
    output_processors: tuple[Any, ...] = ()
    deps: Any = None


def is_pydantic_ai_component(component: Any) -> bool:
    return isinstance(component, AbstractAgent | Tool)


def component_step(component: Any, **options: Any) -> Step:
    """The step of a pydantic-ai agent or tool."""
    if isinstance(component, AbstractAgent):
        return agent_step(component, **options)
    return pydantic_tool_step(component, **options)


def agent_step(
    agent: AbstractAgent[Any, Any],
    *,
    id: str | None = None,
    description: str | None = None,
    retries: int | RetryPolicy | None = None,
    timeout: Duration | None = None,
    instructions: str | None = None,
    model: Any = None,
    model_settings: dict[str, Any] | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    max_steps: int | None = None,
    structured_output: Any = None,
    on_chunk: Callback | None = None,
    on_finish: Callback | None = None,
    input_processors: Sequence[Any] = (),
    output_processors: Sequence[Any] = (),
    deps: Any = None,
) -> Step:
    """A step that runs ``agent`` on the prompt of its input.

    ``instructions`` replace the agent's own; ``temperature`` and ``max_tokens``
    are shortcuts into ``model_settings``; ``max_steps`` caps the model requests
    of one run; ``model`` replaces the agent's model: an instance, any model
    string pydantic-ai accepts (``"openai:gpt-4o"``), or a function of the step
    context returning one, called each time the step runs; ``on_chunk(chunk)``
    sees every streamed chunk and ``on_finish(result)`` the pydantic-ai run result.
    """
    step_id = id or agent.name
    if not step_id:
        raise WorkflowDefinitionError(
            "An agent step needs an id: name the agent (Agent(name=...)) or pass id="
        )
    shortcuts = {"temperature": temperature, "max_tokens": max_tokens}
    options = AgentOptions(
        instructions=instructions,
        model=model,
        model_settings={**(model_settings or {}), **{k: v for k, v in shortcuts.items() if v is not None}},
        max_steps=max_steps,
        structured_output=structured_output,
        on_chunk=on_chunk,
        on_finish=on_finish,
        input_processors=tuple(input_processors),
        output_processors=tuple(output_processors),
        deps=deps,
    )
    return Step(
        id=step_id,
        execute=partial(arun_agent, agent, options),
        input_schema=Prompt,
        output_schema=_output_schema(structured_output or getattr(agent, "output_type", str)),
        description=description or agent.description or "",
        retries=retries,
        component=COMPONENT_AGENT,
        timeout=timeout,
    )


def _output_schema(output_type: Any) -> type[BaseModel] | None:
    if output_type is str:
        return Text
    if isinstance(output_type, type) and issubclass(output_type, BaseModel):
        return output_type
    return None  # another pydantic-ai output spec: its shape is pydantic-ai's business


async def arun_agent(agent: AbstractAgent[Any, Any], options: AgentOptions, ctx: StepContext) -> Any:
    """Run the agent on the step's prompt, streaming its chunks into the run, until the step is aborted."""
    return await _until_aborted(ctx.abort_signal, _arun_agent(agent, options, ctx))


async def _until_aborted(signal: AbortSignal, work: Coroutine[Any, Any, _T]) -> _T:
    """``work`` in a task of its own, cancelled as soon as ``signal`` is set.

    The step then ends cancelled, as it would have at the end of its cancel
    grace; a run canceled meanwhile has dropped its outcome either way.
    """
    task = asyncio.ensure_future(work)

    def stop(aborted: asyncio.Future[None]) -> None:
        if not aborted.cancelled():
            task.cancel()

    watch = asyncio.ensure_future(signal.wait())
    watch.add_done_callback(stop)
    try:
        return await task
    finally:
        watch.cancel()


async def _arun_agent(agent: AbstractAgent[Any, Any], options: AgentOptions, ctx: StepContext) -> Any:
    prompt = await aprocess_input(options.input_processors, ctx.input_data["prompt"])
    send = partial(_asend, options, ctx)
    limits = UsageLimits(request_limit=options.max_steps) if options.max_steps else None
    override = agent.override(instructions=options.instructions) if options.instructions else None
    with override or contextlib.nullcontext():
        async with agent.iter(
            prompt,
            output_type=options.structured_output,
            model=_model_for(options.model, ctx),
            model_settings=cast("ModelSettings", options.model_settings) or None,
            usage_limits=limits,
            deps=options.deps,
        ) as run:
            chunks = ChunkMaker(run.run_id)
            await send(chunks.start(ctx.step_id))
            async for node in run:
                await _astream_node(node, run, chunks, send, ctx)
            result = run.result
    if result is None:
        raise RuntimeError(f"Agent step {ctx.step_id!r} ended without a result")
    await send(chunks.finish(result.usage))
    output = await aprocess_result(options.output_processors, result.output)
    if options.on_finish is not None:
        await _acall(options.on_finish, result)
    return {"text": output} if isinstance(output, str) else output  # run_task stores models as JSON


def _model_for(model: Any, ctx: StepContext) -> Any:
    """The model of this run: the option as given, or what a function of the step context picks."""
    if callable(model) and not isinstance(model, Model):
        return model(ctx)
    return model


async def _astream_node(node: Any, run: Any, chunks: ChunkMaker, send: Callback, ctx: StepContext) -> None:
    """Stream one node of the agent's graph: a model request or the tool calls after it."""
    is_request = Agent.is_model_request_node(node)
    if not (is_request or Agent.is_call_tools_node(node)):
        return
    if is_request:
        await send(chunks.step_start())
    async with node.stream(run.ctx) as events:
        async for event in events:
            for chunk in chunks.of_event(event):
                await send(chunk)
    if is_request:
        response = events.response
        ctx.record_usage(response.usage)
        await send(chunks.step_finish(response))


async def _asend(options: AgentOptions, ctx: StepContext, chunk: dict[str, Any]) -> None:
    processed = await aprocess_chunk(options.output_processors, chunk)
    if processed is None:
        return
    await ctx.writer.write(processed)
    if options.on_chunk is not None:
        await _acall(options.on_chunk, processed)


async def _acall(fn: Callback, value: Any) -> Any:
    result = fn(value)
    return await result if inspect.isawaitable(result) else result


# -- tools ------------------------------------------------------------------------------


def pydantic_tool_step(tool: Tool[Any], **options: Any) -> Step:
    """A step that calls a pydantic-ai tool with its input as the tool's arguments."""
    if tool.takes_ctx:
        raise WorkflowDefinitionError(
            f"Tool {tool.name!r} takes a RunContext, which only an agent run has; "
            "a step gets its StepContext instead: wrap a function without it"
        )
    schema = tool.function_schema

    async def execute(ctx: StepContext) -> Any:
        arguments = schema.validator.validate_python(ctx.input_data or {})
        return await schema.call(arguments, None)  # type: ignore[arg-type]  # no RunContext: takes_ctx is False

    return Step(
        id=options.pop("id", None) or tool.name,
        execute=execute,
        input_schema=signature_model(tool.function, tool.name),
        description=options.pop("description", None) or tool.description or "",
        retries=options.pop("retries", None),
        timeout=options.pop("timeout", None),
        component=COMPONENT_TOOL,
        options=options,
    )


def workflow_tool(
    workflow: WorkflowDefinition,
    *,
    name: str | None = None,
    description: str | None = None,
    engine: str | None = None,
) -> Tool[Any]:
    """A pydantic-ai tool that runs ``workflow`` (and resumes it when it suspended).

    The model calls it with ``input_data`` (the workflow's input); when the run
    suspends, the tool answers with the run id and what the suspended steps asked
    for, and a later call with ``suspended_tool_run_id`` and ``resume_data``
    resumes that run.
    """

    async def run_workflow(
        input_data: Any = None, resume_data: Any = None, suspended_tool_run_id: str | None = None
    ) -> dict[str, Any]:
        run = await acreate_run(workflow, run_id=suspended_tool_run_id, engine=engine)
        try:
            if suspended_tool_run_id:
                result = await run.aresume(resume_data)
            else:
                result = await run.astart(input_data)
        except InputValidationError as exc:
            raise ModelRetry(str(exc)) from exc
        return _tool_answer(result)

    return Tool.from_schema(
        run_workflow,
        name=name or f"workflow-{workflow.id}",
        description=description or workflow.description or f"Run the workflow {workflow.id!r}",
        json_schema=_workflow_tool_schema(workflow),
    )


def _tool_answer(result: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {"status": result.status, "run_id": result.run_id}
    if result.status == "success":
        answer["result"] = result.result
    elif result.status == "suspended":
        answer["suspended"] = result.suspended
        answer["suspend_payloads"] = {
            ".".join(path): result.steps[path[0]].suspend_payload for path in result.suspended
        }
    elif result.error is not None:
        answer["error"] = result.error.get("message")
    return answer


def _workflow_tool_schema(workflow: WorkflowDefinition) -> dict[str, Any]:
    input_schema: dict[str, Any] = {"type": "object"}
    definitions: dict[str, Any] = {}
    if workflow.input_schema is not None:
        input_schema = workflow.input_schema.model_json_schema()
        definitions = input_schema.pop("$defs", {})
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "input_data": input_schema,
            "resume_data": {"description": "What a suspended step asked for, to resume it"},
            "suspended_tool_run_id": {"type": "string", "description": "The run id of a suspended run"},
        },
    }
    if definitions:
        schema["$defs"] = definitions
    return schema
