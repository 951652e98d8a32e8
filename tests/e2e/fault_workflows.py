"""Workflows the fault tests run in worker processes (imported through WORKFLOWS_MODULES)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from workflows_app import StepContext, create_step, create_workflow


async def _add(ctx: StepContext) -> dict[str, Any]:
    return {"n": int(ctx.input_data.get("n", 0)) + 1}


async def _die_once(ctx: StepContext) -> dict[str, Any]:
    """Kill the worker running this step the first time (a crash in the middle of a step)."""
    marker = Path(os.environ["FAULT_MARKER_DIR"]) / f"died-{ctx.run_id}"
    if not marker.exists():
        marker.write_text("died")
        os.kill(os.getpid(), signal.SIGKILL)
    return {"n": int(ctx.input_data["n"]) + 1}


async def _until_aborted(ctx: StepContext) -> dict[str, Any]:
    """Run until canceled; a line in a marker at each start, another marker once it sees its abort."""
    folder = Path(os.environ["FAULT_MARKER_DIR"])
    with (folder / f"started-{ctx.run_id}").open("a") as started:
        started.write("started\n")
    await ctx.abort_signal
    (folder / f"aborted-{ctx.run_id}").touch()
    return {"aborted": True}


async def _ask(ctx: StepContext) -> Any:
    if ctx.resume_data is None:
        return await ctx.suspend({"question": "go on?"})
    return {"n": int(ctx.input_data["n"]) + 1, "by": ctx.resume_data["by"]}


chain = (
    create_workflow("fault-chain")
    .then(create_step("first", execute=_add))
    .then(create_step("second", execute=_add))
    .then(create_step("third", execute=_add))
    .commit()
)

dying = (
    create_workflow("fault-dying")
    .then(create_step("first", execute=_add))
    .then(create_step("dies", execute=_die_once))
    .then(create_step("third", execute=_add))
    .commit()
)

sleepy = (
    create_workflow("fault-sleep")
    .then(create_step("before", execute=_add))
    .sleep(lambda ctx: float(ctx.input_data.get("seconds", 2.0)))
    .then(create_step("after", execute=_add))
    .commit()
)

long_sleep = (
    create_workflow("fault-long-sleep")
    .then(create_step("before", execute=_add))
    .sleep(5.0)
    .then(create_step("after", execute=_add))
    .commit()
)

endless = create_workflow("fault-endless").then(create_step("waits", execute=_until_aborted)).commit()

asking = (
    create_workflow("fault-ask")
    .then(create_step("ask", execute=_ask))
    .then(create_step("after", execute=lambda ctx: {**ctx.input_data, "n": ctx.input_data["n"] + 1}))
    .commit()
)
