"""Workflows that bench/surfaces.py starts in the server it measures (WORKFLOWS_MODULES)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from workflows_app import create_step, create_workflow


class Events(BaseModel):
    events: int


class Steps(BaseModel):
    steps: int


async def _chatter(ctx: Any) -> Any:
    for n in range(ctx.input_data["events"]):
        await ctx.writer.write({"n": n})
    return {"written": ctx.input_data["events"]}


chatty = (
    create_workflow("bench-chatty", input_schema=Events)
    .then(create_step("chatter", execute=_chatter, input_schema=Events))
    .commit()
)


async def _count(ctx: Any) -> Any:
    return {"left": ctx.input_data["left"] - 1}


async def _begin(ctx: Any) -> Any:
    return {"left": ctx.input_data["steps"]}


async def _left(ctx: Any) -> bool:
    return bool(ctx.input_data["left"] <= 0)


stepping = (
    create_workflow("bench-steps", input_schema=Steps)
    .then(create_step("begin", execute=_begin))
    .dountil(create_step("count", execute=_count), _left)
    .commit()
)
