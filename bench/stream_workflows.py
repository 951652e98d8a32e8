"""Workflows that bench/streams.py starts in the server it measures (WORKFLOWS_MODULES)."""

from __future__ import annotations

from typing import Any

from workflows_app import create_step, create_workflow


async def _hello(ctx: Any) -> Any:
    return {"hello": "world"}


quick = create_workflow("bench-quick").then(create_step("hello", execute=_hello)).commit()


async def _wait(ctx: Any) -> Any:
    if ctx.resume_data is None:
        return await ctx.suspend({"question": "go on?"})
    return ctx.resume_data


waiting = create_workflow("bench-waiting").then(create_step("wait", execute=_wait)).commit()
