"""Workflows for the cross-process tests: the behaviours hardest to spread over workers.

Imported by worker processes and by the processes that start, resume and cancel
runs (WORKFLOWS_MODULES), as an application's workflows.py would be.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from workflows_app import StepContext, create_step, create_workflow


async def _approve(ctx: StepContext) -> Any:
    if ctx.resume_data is None:
        return await ctx.suspend({"step": ctx.step_id})
    return {"by": ctx.resume_data["by"], "pid": os.getpid()}


def _approval(step_id: str) -> Any:
    return create_step(step_id, execute=_approve)


async def _tag(ctx: StepContext) -> Any:
    return {"tag": ctx.step_id, "pid": os.getpid()}


parallel_suspends = (
    create_workflow("spread-parallel-suspend").parallel([_approval("left"), _approval("right")]).commit()
)

every_true_branch = (
    create_workflow("spread-branches")
    .branch(
        [
            (lambda ctx: ctx.input_data["n"] > 1, create_step("big", execute=_tag)),
            (lambda ctx: ctx.input_data["n"] > 0, create_step("positive", execute=_tag)),
            (lambda ctx: ctx.input_data["n"] < 0, create_step("negative", execute=_tag)),
        ]
    )
    .commit()
)


async def _maybe_wait(ctx: StepContext) -> Any:
    if ctx.input_data % 2 == 1 and ctx.resume_data is None:
        return await ctx.suspend({"item": ctx.input_data})
    return {"item": ctx.input_data, "resumed": ctx.resume_data is not None}


foreach_resume = (
    create_workflow("spread-foreach")
    .foreach(create_step("item", execute=_maybe_wait), concurrency=3)
    .commit()
)

inner = create_workflow("spread-inner").then(_approval("inner-approval")).commit()
nested_suspend = (
    create_workflow("spread-nested")
    .then(create_step("before", execute=_tag))
    .then(inner)
    .then(create_step("after", execute=_tag))
    .commit()
)


async def _wait_for_abort(ctx: StepContext) -> Any:
    """Run until canceled; leave a file saying the abort signal reached this process."""
    marker = Path(os.environ["FAULT_MARKER_DIR"]) / f"started-{ctx.run_id}"
    marker.write_text(str(os.getpid()))
    try:
        await ctx.abort_signal.wait()
    finally:  # the worker sets the signal, then cancels the step
        if ctx.abort_signal.aborted:
            (marker.parent / f"aborted-{ctx.run_id}").write_text(str(os.getpid()))
    return {"aborted": True}


cancellable = (
    create_workflow("spread-cancel")
    .then(create_step("long", execute=_wait_for_abort))
    .then(create_step("never", execute=_tag))
    .commit()
)
