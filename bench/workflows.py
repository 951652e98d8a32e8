"""The workflows the benchmarks run, importable by worker processes (``WORKFLOWS_MODULES``).

Every step is a no-op that passes a small dict on, so that what is measured is the
engine's own cost per step. The loop's step stamps each iteration with the wall clock
(``time.time()``, shared by every process of the machine), which is how the cost of
step 10 and step 5,000 of one loop are told apart.
"""

from __future__ import annotations

import time
from typing import Any

from workflows_app import StepContext, Workflow, create_step, create_workflow

SEQUENTIAL_STEPS = 200
CONCURRENT_RUN_STEPS = 5
FOREACH_CONCURRENCY = 50


def noop(data: dict[str, Any]) -> dict[str, Any]:
    """The work of one step, also called by the plain-Python baseline and the peers."""
    return {"n": data["n"] + 1}


def _noop_step(ctx: StepContext) -> dict[str, Any]:
    return noop(ctx.input_data)


def _item_step(ctx: StepContext) -> int:
    return int(ctx.input_data) + 1


def _tick(ctx: StepContext) -> dict[str, Any]:
    return {"n": ctx.input_data["n"] + 1, "limit": ctx.input_data["limit"], "t": time.time()}


def _done(ctx: StepContext) -> bool:
    return bool(ctx.input_data["n"] >= ctx.input_data["limit"])


def _chain(workflow_id: str, length: int) -> Workflow:
    workflow = create_workflow(workflow_id)
    for index in range(length):
        workflow = workflow.then(create_step(f"s{index}", execute=_noop_step))
    return workflow.commit()


sequential = _chain("bench-sequential", SEQUENTIAL_STEPS)
short = _chain("bench-short", CONCURRENT_RUN_STEPS)
fan_out = (
    create_workflow("bench-foreach")
    .foreach(create_step("item", execute=_item_step), concurrency=FOREACH_CONCURRENCY)
    .commit()
)
long_loop = create_workflow("bench-loop").dountil(create_step("tick", execute=_tick), _done).commit()
