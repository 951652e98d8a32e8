"""Workflows the retry fault test runs in worker processes (imported through WORKFLOWS_MODULES)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from workflows_app import RetryPolicy, StepContext, create_step, create_workflow


async def _fail_first(ctx: StepContext) -> dict[str, Any]:
    """Leave a marker per attempt (the test counts them); fail the first one when the test says go.

    Waiting for the test's word keeps slow process start-ups out of the backoff the
    test means to kill the worker in.
    """
    folder = Path(os.environ["FAULT_MARKER_DIR"])
    with (folder / f"attempt-{ctx.run_id}-{ctx.retry_count}").open("a") as runs:
        runs.write("ran\n")
    if ctx.retry_count == 0:
        go = folder / f"go-{ctx.run_id}"
        while not go.exists():
            await asyncio.sleep(0.02)
        raise ConnectionError("the service is not up yet")
    return {"n": int(ctx.input_data["n"]) + 1, "attempt": ctx.retry_count}


retrying = (
    create_workflow("fault-retry", retry_config=RetryPolicy(attempts=3, delay=3.0, backoff=2.0))
    .then(create_step("flaky", execute=_fail_first))
    .commit()
)
