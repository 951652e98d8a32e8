"""Fake models for agent-step tests: pydantic-ai's FunctionModel, no network, no key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

from .processes import shared_list


class ModelSpy:
    """Records what each model request saw: instructions, settings, prompt."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = shared_list()

    def see(self, messages: list[ModelMessage], info: AgentInfo) -> None:
        self.requests.append(
            {
                "instructions": info.instructions or "",
                "settings": dict(info.model_settings or {}),
                "prompt": last_user_text(messages),
            }
        )


def last_user_text(messages: list[ModelMessage]) -> str:
    """The text of the last user prompt the model was sent."""
    for message in reversed(messages):
        for part in getattr(message, "parts", ()):
            if getattr(part, "part_kind", "") == "user-prompt" and isinstance(part.content, str):
                return part.content
    return ""


def answering(*pieces: str, spy: ModelSpy | None = None) -> FunctionModel:
    """A model that answers with ``pieces`` (streamed one by one, or joined when not streaming)."""

    async def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if spy is not None:
            spy.see(messages, info)
        return ModelResponse(parts=[TextPart("".join(pieces))])

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        if spy is not None:
            spy.see(messages, info)
        for piece in pieces:
            yield piece

    return FunctionModel(reply, stream_function=stream)


def agent(name: str, *pieces: str, **options: Any) -> Agent[None, str]:
    """An agent called ``name`` whose model answers ``pieces``."""
    spy = options.pop("spy", None)
    return Agent(answering(*pieces, spy=spy), name=name, **options)


def structured(data: dict[str, Any]) -> FunctionModel:
    """A model that answers through pydantic-ai's output tool with ``data`` as arguments."""

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[DeltaToolCalls]:
        yield {0: DeltaToolCall(name=info.output_tools[0].name, json_args=json.dumps(data))}

    return FunctionModel(stream_function=stream)


def streamed(stream: Any) -> FunctionModel:
    """A model from a stream function, answering the same whether streamed or not."""

    async def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        parts: list[Any] = []
        async for item in stream(messages, info):
            if isinstance(item, str):
                parts.append(TextPart(item))
            else:
                parts.extend(
                    ToolCallPart(call.name or "", call.json_args, tool_call_id=call.tool_call_id or "call")
                    for call in item.values()
                )
        return ModelResponse(parts=parts)

    return FunctionModel(reply, stream_function=stream)


def calling(tool_name: str, *argument_sets: dict[str, Any]) -> FunctionModel:
    """A model that calls ``tool_name`` once per argument set, then answers with the last tool result."""

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
        returns = [part for message in messages for part in message.parts if isinstance(part, ToolReturnPart)]
        if len(returns) < len(argument_sets):
            arguments = json.dumps(argument_sets[len(returns)])
            yield {0: DeltaToolCall(name=tool_name, json_args=arguments, tool_call_id=f"call-{len(returns)}")}
            return
        yield json.dumps(returns[-1].content)

    return streamed(stream)


class Hanging:
    """A model that never answers; it records being called and being cancelled."""

    def __init__(self) -> None:
        self.seen: list[str] = shared_list()

    def model(self) -> FunctionModel:
        async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
            self.seen.append("started")
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.seen.append("cancelled")
                raise
            yield "never"

        return FunctionModel(stream_function=stream)
