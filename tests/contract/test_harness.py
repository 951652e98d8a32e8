"""The harness itself: where the steps of a contract test run."""

from __future__ import annotations

import os
from typing import Any

from workflows_app import create_step, create_workflow

from .conftest import Harness
from .processes import shared_list


async def test_steps_run_in_the_worker_processes_when_the_harness_has_some(harness: Harness) -> None:
    """On PostgreSQL + Redis the evented steps run in forked workers, never in the test process."""
    pids: list[int] = shared_list()

    def execute(ctx: Any) -> Any:
        pids.append(os.getpid())
        return {"ok": True}

    workflow = create_workflow("harness-where-steps-run").then(create_step("s", execute=execute)).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    if harness.workers is None:
        assert pids == [os.getpid()]
    else:
        assert len(pids) == 1
        assert pids[0] in harness.workers.pids
        assert pids[0] != os.getpid()
