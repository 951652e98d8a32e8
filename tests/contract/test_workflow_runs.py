"""Workflow runs: status, several steps, repeated runs, a given run id (spec: workflow-runs #1-#4)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from workflows_app import create_step, create_workflow

from .conftest import Calls, Harness
from .processes import shared_list
from .shapes import counted


async def test_should_track_workflow_run_status(harness: Harness, calls: Calls) -> None:
    """workflow-runs #1: should track workflow run status."""
    step1 = counted(calls, "step1", lambda ctx: {"result": "success"})
    workflow = create_workflow("runs-status").then(step1).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert calls["step1"] == 1


async def test_should_track_workflow_run_with_multiple_steps(harness: Harness, calls: Calls) -> None:
    """workflow-runs #2: should track workflow run with multiple steps."""
    steps = [counted(calls, f"step{n}", lambda ctx, n=n: {"value": f"step{n}"}) for n in (1, 2, 3)]
    workflow = create_workflow("runs-multi-step").then(steps[0]).then(steps[1]).then(steps[2]).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    for n in (1, 2, 3):
        assert calls[f"step{n}"] == 1
        assert result.steps[f"step{n}"].status == "success"
        assert result.steps[f"step{n}"].output == {"value": f"step{n}"}


async def test_should_execute_multiple_runs_of_a_workflow(harness: Harness, calls: Calls) -> None:
    """workflow-runs #3: should execute multiple runs of a workflow (no memoization across runs)."""

    class In(BaseModel):
        input: str

    def next_run(ctx: Any) -> Any:
        return {"runNumber": calls["step1"]}  # counted() has just counted this call

    step1 = counted(calls, "step1", next_run, input_schema=In)
    workflow = create_workflow("runs-repeated", input_schema=In).then(step1).commit()
    for n, data in enumerate(("run1", "run2", "run3"), start=1):
        result = await harness.execute(workflow, {"input": data})
        assert result.status == "success"
        assert result.steps["step1"].output == {"runNumber": n}
        assert calls["step1"] == n
    assert calls.inputs["step1"] == [{"input": "run1"}, {"input": "run2"}, {"input": "run3"}]


async def test_should_use_provided_run_id(harness: Harness) -> None:
    """workflow-runs #4: should use provided runId."""
    seen: list[str] = shared_list()

    async def execute(ctx: Any) -> Any:
        seen.append(ctx.run_id)
        return {"result": "success"}

    workflow = create_workflow("runs-custom-id").then(create_step("step1", execute=execute)).commit()
    result = await harness.execute(workflow, {}, run_id="my-custom-run-id-12345")
    assert result.status == "success"
    assert result.run_id == "my-custom-run-id-12345"
    assert seen == ["my-custom-run-id-12345"]
