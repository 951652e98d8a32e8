"""What an agent step streams: pydantic-ai events turned into agent chunks.

A chunk is ``{"type", "run_id", "from": "AGENT", "payload"}`` (payload keys in
snake_case), the shape a Mastra agent streams, so that a client reading a
workflow's ``workflow-step-output`` events sees the same vocabulary from every
agent step: ``start``, then per model request ``step-start``, ``text-start`` /
``text-delta`` / ``text-end``, ``reasoning-*``, ``tool-call-input-streaming-start``
/ ``tool-call-delta`` / ``tool-call-input-streaming-end`` / ``tool-call``, then
``step-finish`` (with that request's usage), ``tool-result`` for each tool the
agent ran, and ``finish`` (with the run's usage).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_ai.messages import (
    FunctionToolResultEvent,
    ModelResponse,
    PartDeltaEvent,
    PartEndEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ThinkingPart,
    ThinkingPartDelta,
    ToolCallPart,
    ToolCallPartDelta,
)
from pydantic_core import to_jsonable_python


def usage_of(usage: Any) -> dict[str, int]:
    """A pydantic-ai usage as the run reports it."""
    spent = {"input_tokens": int(usage.input_tokens or 0), "output_tokens": int(usage.output_tokens or 0)}
    return {**spent, "total_tokens": spent["input_tokens"] + spent["output_tokens"]}


class ChunkMaker:
    """Builds the chunks of one agent run, tracking the parts each request streams."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.request = 0

    def chunk(self, kind: str, **payload: Any) -> dict[str, Any]:
        return {"type": kind, "run_id": self.run_id, "from": "AGENT", "payload": payload}

    def start(self, agent_id: str) -> dict[str, Any]:
        return self.chunk("start", agent_id=agent_id)

    def step_start(self) -> dict[str, Any]:
        self.request += 1
        return self.chunk("step-start", request=self.request)

    def step_finish(self, response: ModelResponse) -> dict[str, Any]:
        return self.chunk("step-finish", reason=response.finish_reason, usage=usage_of(response.usage))

    def finish(self, usage: Any) -> dict[str, Any]:
        return self.chunk("finish", usage=usage_of(usage))

    def of_event(self, event: Any) -> list[dict[str, Any]]:
        """The chunks one pydantic-ai event stands for (none for bookkeeping events)."""
        if isinstance(event, PartStartEvent):
            return self._part_start(event)
        if isinstance(event, PartDeltaEvent):
            return self._part_delta(event)
        if isinstance(event, PartEndEvent):
            return self._part_end(event)
        if isinstance(event, FunctionToolResultEvent):
            part = event.part
            result = to_jsonable_python(part.content, fallback=repr)
            return [
                self.chunk(
                    "tool-result", tool_call_id=part.tool_call_id, tool_name=part.tool_name, result=result
                )
            ]
        return []

    def _id(self, index: int) -> str:
        return f"{self.request}-{index}"

    def _part_start(self, event: PartStartEvent) -> list[dict[str, Any]]:
        part, part_id = event.part, self._id(event.index)
        if isinstance(part, TextPart):
            return self._opened("text", part_id, part.content)
        if isinstance(part, ThinkingPart):
            return self._opened("reasoning", part_id, part.content)
        if isinstance(part, ToolCallPart):
            call = {"tool_call_id": part.tool_call_id, "tool_name": part.tool_name}
            chunks = [self.chunk("tool-call-input-streaming-start", **call)]
            if part.args:
                chunks.append(self.chunk("tool-call-delta", **call, args_text_delta=part.args_as_json_str()))
            return chunks
        return []

    def _opened(self, kind: str, part_id: str, content: str) -> list[dict[str, Any]]:
        chunks = [self.chunk(f"{kind}-start", id=part_id)]
        if content:
            chunks.append(self.chunk(f"{kind}-delta", id=part_id, text=content))
        return chunks

    def _part_delta(self, event: PartDeltaEvent) -> list[dict[str, Any]]:
        delta, part_id = event.delta, self._id(event.index)
        if isinstance(delta, TextPartDelta) and delta.content_delta:
            return [self.chunk("text-delta", id=part_id, text=delta.content_delta)]
        if isinstance(delta, ThinkingPartDelta) and delta.content_delta:
            return [self.chunk("reasoning-delta", id=part_id, text=delta.content_delta)]
        if isinstance(delta, ToolCallPartDelta) and delta.args_delta:
            args = delta.args_delta
            text = args if isinstance(args, str) else json.dumps(args)
            return [self.chunk("tool-call-delta", tool_call_id=delta.tool_call_id, args_text_delta=text)]
        return []

    def _part_end(self, event: PartEndEvent) -> list[dict[str, Any]]:
        part, part_id = event.part, self._id(event.index)
        if isinstance(part, TextPart):
            return [self.chunk("text-end", id=part_id)]
        if isinstance(part, ThinkingPart):
            return [self.chunk("reasoning-end", id=part_id)]
        if isinstance(part, ToolCallPart):
            return [
                self.chunk("tool-call-input-streaming-end", tool_call_id=part.tool_call_id),
                self.chunk(
                    "tool-call",
                    tool_call_id=part.tool_call_id,
                    tool_name=part.tool_name,
                    args=part.args_as_dict(),
                ),
            ]
        return []
