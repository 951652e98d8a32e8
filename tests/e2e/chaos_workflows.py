"""The workflow the chaos test runs: every kind of node, each step writing an execution log.

Each execution of a step's code appends a ``start`` line before the work and an
``end`` line after it to a file of its own process (``CHAOS_LOG_DIR``), with the
run, the step's coordinate, the pid and the time. The chaos test reads them to
check that no step ran on two live workers at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from workflows_app import StepContext, create_step, create_workflow


def _log(ctx: StepContext, phase: str) -> None:
    directory = os.environ.get("CHAOS_LOG_DIR")
    if not directory:
        return
    line = {
        "run": ctx.run_id,
        "step": ctx.step_id,
        "input": json.dumps(ctx.input_data, sort_keys=True),  # tells foreach items apart
        "pid": os.getpid(),
        "phase": phase,
        "t": time.time(),
    }
    with (Path(directory) / f"exec-{os.getpid()}.jsonl").open("a") as log:
        log.write(json.dumps(line) + "\n")


def _logged(step_id: str, compute: Any) -> Any:
    async def execute(ctx: StepContext) -> Any:
        _log(ctx, "start")
        await asyncio.sleep(random.uniform(0.05, 0.25))  # noqa: S311 - the step's "work"
        output = compute(ctx.input_data)
        _log(ctx, "end")
        return output

    return create_step(step_id, execute=execute)


async def _approve(ctx: StepContext) -> Any:
    if ctx.resume_data is None:
        return await ctx.suspend({"total": ctx.input_data["total"]})
    _log(ctx, "start")
    _log(ctx, "end")
    return {"total": ctx.input_data["total"], "by": ctx.resume_data["by"]}


def expected_result(n: int) -> dict[str, Any]:
    """What a run started with ``{"n": n}`` must end with (``by`` is whoever won the resume)."""
    squares = sum((n + 1 + i) ** 2 for i in range(4))
    return {"total": squares * 2 + 3}


chaos = (
    create_workflow("chaos")
    .then(_logged("prepare", lambda d: {"n": d["n"] + 1}))
    .sleep(1.0)
    .then(_logged("split", lambda d: [{"v": d["n"] + i} for i in range(4)]))
    .foreach(_logged("square", lambda d: {"sq": d["v"] ** 2}), concurrency=2)
    .then(_logged("gather", lambda items: {"total": sum(item["sq"] for item in items)}))
    .parallel(
        [
            _logged("left", lambda d: {"part": d["total"]}),
            _logged("right", lambda d: {"part": d["total"] + 3}),
        ]
    )
    .then(_logged("join", lambda d: {"total": d["left"]["part"] + d["right"]["part"]}))
    .then(create_step("approve", execute=_approve))
    .commit()
)
