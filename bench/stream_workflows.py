"""Workflows that bench/streams.py and bench/scale.py start in the server they measure (WORKFLOWS_MODULES)."""

from __future__ import annotations

import asyncio
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


async def _talk(ctx: Any) -> Any:
    """Waits for its watcher to connect (a suspension), then writes events.

    The resume data says how many, and how far apart (0: together, one commit).
    """
    if ctx.resume_data is None:
        return await ctx.suspend({"question": "talk?"})
    count, interval = int(ctx.resume_data["events"]), float(ctx.resume_data["interval"])
    for n in range(count):
        if interval:
            await asyncio.sleep(interval)
        await ctx.writer.write({"n": n})
    return {"written": count}


talking = create_workflow("bench-talking").then(create_step("talk", execute=_talk)).commit()
