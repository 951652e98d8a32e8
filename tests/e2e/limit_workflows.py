"""Workflows for the limit race test, imported by its worker processes (WORKFLOWS_MODULES).

Every step appends a line to one log file (``O_APPEND``: each line is written
whole, and the file's order is the order the writes happened in, whatever
process made them): ``start`` once its execution was claimed, ``end`` before its
outcome is committed. So between a ``start`` and its ``end`` the execution holds
its slot, and the file shows how many were inside at once.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from workflows_app import Limit, Rate, StepContext, create_step, create_workflow

NARROW_EXECUTIONS = 24  # the step race test's 4 runs of 6 items


def log(*words: Any) -> None:
    path = Path(os.environ["FAULT_MARKER_DIR"]) / "limits.log"
    line = " ".join(str(word) for word in words) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


async def _work(ctx: StepContext, tag: str) -> Any:
    log("start", tag, ctx.run_id, os.getpid())
    await asyncio.sleep(0.05)  # the step's work: long enough for the other workers to try to start
    log("end", tag, ctx.run_id, os.getpid())
    return ctx.input_data


def _inside(tag: str) -> tuple[int, int]:
    """How many executions of ``tag`` are inside now, and how many have started, from the log."""
    inside = started = 0
    for line in (Path(os.environ["FAULT_MARKER_DIR"]) / "limits.log").read_text().splitlines():
        mark, seen, *_ = line.split()
        if seen == tag:
            inside += 1 if mark == "start" else -1
            started += mark == "start"
    return inside, started


async def _narrow(ctx: StepContext) -> Any:
    """Wait inside for a partner, so that the limit's two places are taken by two workers at once.

    The race test's workers have one slot each: a partner is always another
    process. The last execution has none to wait for; the deadline only keeps a
    broken run from hanging the test.
    """
    log("start", "narrow", ctx.run_id, os.getpid())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        inside, started = _inside("narrow")
        if inside >= 2 or started >= NARROW_EXECUTIONS:
            break
        await asyncio.sleep(0.02)
    log("end", "narrow", ctx.run_id, os.getpid())
    return ctx.input_data


async def _customer(ctx: StepContext) -> Any:
    return await _work(ctx, f"customer-{ctx.input_data['customer']}-{ctx.input_data['n']}")


async def _rated(ctx: StepContext) -> Any:
    return await _work(ctx, "rated")


async def _marker(ctx: StepContext) -> Any:
    return {"pid": os.getpid()}


step_race = (
    create_workflow("limit-step-race")
    .foreach(create_step("narrow", execute=_narrow, concurrency=Limit(2)), concurrency=6)
    .commit()
)
run_race = (
    create_workflow("limit-run-race", concurrency=Limit(1, key=lambda data: data["customer"]))
    .then(create_step("customer", execute=_customer))
    .commit()
)
rate_race = (
    create_workflow("limit-rate-race")
    .foreach(create_step("rated", execute=_rated, rate=Rate(3, per=3600.0)), concurrency=8)
    .commit()
)
marker = create_workflow("limit-marker").then(create_step("marker", execute=_marker)).commit()
