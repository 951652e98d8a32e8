"""Storage persistence: listing, reading and deleting stored runs (spec: storage #1-#8).

The spec reaches storage through the Mastra instance (``listWorkflowRuns``,
``getWorkflowRunById``, ``deleteWorkflowRunById``); ours is the workflow's own run
storage API: ``workflow.alist_runs()``, ``workflow.aget_run()`` and
``workflow.adelete_run()``, whose stored views (``StoredRun``) carry ``run_id``,
``workflow_name``, ``resource_id``, ``status``, ``steps`` and ``result``.
"""

from __future__ import annotations

from typing import Any

from workflows_app import create_step, create_workflow

from .conftest import Calls, Harness
from .processes import shared_list
from .shapes import Value, counted


def suspend_once(calls: Calls, step_id: str) -> Any:
    """A step that suspends on its first run and returns its resume data on the next."""

    async def execute(ctx: Any) -> Any:
        calls.hit(step_id, ctx.input_data)
        if ctx.resume_data is None:
            return await ctx.suspend()
        return ctx.resume_data

    return create_step(step_id, execute=execute)


async def test_should_get_workflow_runs_from_storage(harness: Harness, calls: Calls) -> None:
    """storage #1: should get workflow runs from storage."""
    step1 = counted(calls, "step1", lambda ctx: {"result": "success"})
    workflow = create_workflow("storage-list-runs-workflow").then(step1).commit()
    await harness.execute(workflow, {}, run_id="storage-list-run-1")
    await harness.execute(workflow, {}, run_id="storage-list-run-2")

    listed = await workflow.alist_runs()
    assert listed.total >= 2
    assert len(listed.runs) >= 2
    by_id = {run.run_id: run for run in listed.runs}
    for run_id in ("storage-list-run-1", "storage-list-run-2"):
        assert by_id[run_id].workflow_name == "storage-list-runs-workflow"


async def test_should_get_and_delete_workflow_run_by_id_from_storage(harness: Harness, calls: Calls) -> None:
    """storage #2: should get and delete workflow run by id from storage."""
    step1 = counted(calls, "step1", lambda ctx: {"result": "success"})
    workflow = create_workflow("storage-get-delete-workflow").then(step1).commit()
    result = await harness.execute(workflow, {})
    run_id = result.run_id

    stored = await workflow.aget_run(run_id)
    assert stored is not None
    assert stored.run_id == run_id
    assert stored.workflow_name == "storage-get-delete-workflow"
    assert stored.status == "success"
    assert stored.steps is not None
    assert stored.steps["step1"]["output"] == {"result": "success"}

    assert await workflow.adelete_run(run_id) is True
    assert await workflow.aget_run(run_id) is None
    assert (await workflow.alist_runs()).total == 0


async def test_should_persist_resource_id_when_creating_workflow_runs(harness: Harness, calls: Calls) -> None:
    """storage #3: should persist resourceId when creating workflow runs."""
    step1 = counted(calls, "step1", lambda ctx: {"result": "success"})
    workflow = create_workflow("storage-resource-id-workflow").then(step1).commit()
    result = await harness.execute(workflow, {}, resource_id="user-123")
    anonymous = await harness.execute(workflow, {})

    listed = await workflow.alist_runs()
    by_id = {run.run_id: run for run in listed.runs}
    assert by_id[result.run_id].resource_id == "user-123"
    assert by_id[anonymous.run_id].resource_id is None
    stored = await workflow.aget_run(result.run_id)
    assert stored is not None
    assert stored.resource_id == "user-123"


async def test_should_preserve_resource_id_when_resuming_a_suspended_workflow(
    harness: Harness, calls: Calls
) -> None:
    """storage #4: should preserve resourceId when resuming a suspended workflow."""
    seen: list[str | None] = shared_list()

    async def execute(ctx: Any) -> Any:
        seen.append(ctx.resource_id)
        if ctx.resume_data is None:
            return await ctx.suspend()
        return ctx.resume_data

    suspending = create_step("suspendingStep", execute=execute)
    workflow = create_workflow("storage-resource-id-resume-workflow").then(suspending).commit()
    result = await harness.execute(workflow, {}, resource_id="user-789")
    assert result.status == "suspended"
    before = await workflow.aget_run(result.run_id)
    assert before is not None
    assert before.resource_id == "user-789"

    resumed = await harness.resume(
        workflow, result.run_id, {"message": "resumed with data"}, step="suspendingStep"
    )
    assert resumed.status == "success"
    assert resumed.result == {"message": "resumed with data"}
    after = await workflow.aget_run(result.run_id)
    assert after is not None
    assert after.resource_id == "user-789"
    assert seen == ["user-789", "user-789"]

    listed = await workflow.alist_runs(resource_id="user-789")
    assert listed.total == 1
    assert [run.run_id for run in listed.runs] == [result.run_id]
    assert listed.runs[0].resource_id == "user-789"


async def test_should_pass_resource_id_in_every_persisted_snapshot_during_loop_execution(
    harness: Harness,
) -> None:
    """storage #5: should pass resourceId in every persistWorkflowSnapshot call during loop execution.

    The spec spies on the storage's snapshot writes; we use the real storage and
    read the stored run after each event of the stream (each event is committed with
    the run's change), and check what every loop iteration saw.
    """
    seen: list[str | None] = shared_list()

    async def execute(ctx: Any) -> Any:
        seen.append(ctx.resource_id)
        return {"value": ctx.input_data["value"] + 1}

    loop_step = create_step("loopStep", execute=execute, input_schema=Value, output_schema=Value)
    workflow = (
        create_workflow("storage-resource-id-loop-workflow", input_schema=Value, output_schema=Value)
        .dountil(loop_step, lambda ctx: ctx.input_data["value"] >= 3)
        .commit()
    )
    run = await workflow.acreate_run(resource_id="user-loop-456", engine=harness.engine)
    stream = run.astream({"value": 0})
    persisted: list[str | None] = shared_list()
    async for _ in stream:
        stored = await workflow.aget_run(run.run_id, fields=["status"])
        assert stored is not None
        persisted.append(stored.resource_id)
    result = await stream.result()

    assert result.status == "success"
    assert result.result == {"value": 3}
    assert len(persisted) >= 1
    assert set(persisted) == {"user-loop-456"}
    assert seen == ["user-loop-456"] * 3
    stored = await workflow.aget_run(run.run_id)
    assert stored is not None
    assert stored.resource_id == "user-loop-456"


async def test_should_return_only_requested_fields_when_fields_option_is_specified(
    harness: Harness, calls: Calls
) -> None:
    """storage #6: should return only requested fields when fields option is specified."""
    step1 = counted(calls, "step1", lambda ctx: {"value": "result1"})
    workflow = create_workflow("storage-fields-filter-workflow").then(step1).commit()
    result = await harness.execute(workflow, {})

    status_only = await workflow.aget_run(result.run_id, fields=["status"])
    assert status_only is not None
    assert status_only.status == "success"
    assert status_only.steps is None
    assert status_only.result is None

    with_steps = await workflow.aget_run(result.run_id, fields=["status", "steps"])
    assert with_steps is not None
    assert with_steps.steps is not None
    assert with_steps.steps["step1"]["status"] == "success"
    assert with_steps.steps["step1"]["output"] == {"value": "result1"}
    assert with_steps.result is None

    everything = await workflow.aget_run(result.run_id)
    assert everything is not None
    assert everything.status == "success"
    assert everything.steps is not None
    assert everything.result == {"value": "result1"}
    assert everything.run_id == result.run_id
    assert everything.workflow_name == "storage-fields-filter-workflow"


async def test_should_exclude_nested_workflow_steps_when_with_nested_workflows_is_false(
    harness: Harness, calls: Calls
) -> None:
    """storage #7: should exclude nested workflow steps when withNestedWorkflows is false."""
    inner_step = counted(calls, "inner-step", lambda ctx: {"value": ctx.input_data["value"] + 1})
    outer_step = counted(calls, "outer-step", lambda ctx: {"value": ctx.input_data["value"] * 2})
    inner = (
        create_workflow("storage-nested-inner-workflow", input_schema=Value, output_schema=Value)
        .then(inner_step)
        .commit()
    )
    workflow = (
        create_workflow("storage-nested-outer-workflow", input_schema=Value, output_schema=Value)
        .then(inner)
        .then(outer_step)
        .commit()
    )
    result = await harness.execute(workflow, {"value": 1})
    assert result.result == {"value": 4}

    full = await workflow.aget_run(result.run_id)
    assert full is not None
    assert full.status == "success"
    assert full.steps is not None
    assert {"storage-nested-inner-workflow", "storage-nested-inner-workflow.inner-step", "outer-step"} <= set(
        full.steps
    )
    assert "input" not in full.steps

    flat = await workflow.aget_run(result.run_id, with_nested_workflows=False)
    assert flat is not None
    assert flat.steps is not None
    assert {"storage-nested-inner-workflow", "outer-step"} <= set(flat.steps)
    assert "storage-nested-inner-workflow.inner-step" not in flat.steps


async def test_should_use_should_persist_snapshot_option(harness: Harness, calls: Calls) -> None:
    """storage #8: should use shouldPersistSnapshot option.

    The stored version of the spec: the suspended snapshot is kept, and the
    successful one after the resume is declined, so the stored run still shows
    ``suspended`` (not the later variant that deletes declined terminal snapshots).
    """
    step1 = counted(calls, "step1", lambda ctx: {"value": "step1"})
    step2 = counted(calls, "step2", lambda ctx: {"value": "step2"})
    resume_step = suspend_once(calls, "resume-step")
    workflow = (
        create_workflow(
            "storage-should-persist-workflow",
            should_persist_snapshot=lambda info: info["workflow_status"] == "suspended",
        )
        .then(step1)
        .then(step2)
        .then(resume_step)
        .commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "suspended"
    listed = await workflow.alist_runs()
    assert listed.total == 1
    assert len(listed.runs) == 1

    resumed = await harness.resume(workflow, result.run_id, {"resume": "resume"}, step="resume-step")
    assert resumed.status == "success"
    assert (calls["step1"], calls["step2"], calls["resume-step"]) == (1, 1, 2)
    listed = await workflow.alist_runs()
    assert listed.total == 1
    assert len(listed.runs) == 1
    assert listed.runs[0].status == "suspended"
    stored = await workflow.aget_run(result.run_id)
    assert stored is not None
    assert stored.status == "suspended"
