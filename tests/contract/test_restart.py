"""Restart: continuing a run whose process died while it was running (spec: restart #1-#7).

The spec seeds hand-made "running" snapshots; our equivalent is the crash-recovery
idiom: run until a step is inside its code, stop whatever drives the run without
writing anything (``harness.acrash``: the worker processes are killed with SIGKILL
where there are some, else ``testing.acrash`` makes this process let go), then
call ``arestart()`` on a fresh ``Run`` with fresh engines. Completed steps must not
run again; the steps that were running run again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from workflows_app import create_step, create_workflow, errors
from workflows_app.core import runtime
from workflows_app.testing import awaituntil

from .conftest import Calls, Harness
from .processes import shared_list


class Gate:
    """Lets a step block on its first call; the test then crashes the process running it."""

    def __init__(self) -> None:
        self.entries: list[bool] = shared_list()
        self.blocking = True

    async def hold(self) -> None:
        if self.blocking:
            self.entries.append(True)
            await asyncio.Event().wait()


def counted(calls: Calls, step_id: str, fn: Any, gate: Gate | None = None) -> Any:
    async def execute(ctx: Any) -> Any:
        calls.hit(step_id, ctx.input_data)
        if gate is not None:
            await gate.hold()
        return fn(ctx.input_data)

    return create_step(step_id, execute=execute)


async def crash_while_running(harness: Harness, workflow: Any, data: Any, gates: list[Gate]) -> str:
    """Start a run, wait until every gated step is inside its code, then crash."""
    run = await workflow.acreate_run(engine=harness.engine)
    await run.aenqueue(data)
    for gate in gates:
        await awaituntil(lambda gate=gate: bool(gate.entries))
    await harness.acrash(run)
    for gate in gates:
        gate.blocking = False
    return str(run.run_id)


async def restart(harness: Harness, workflow: Any, run_id: str) -> Any:
    harness.fresh_process()
    run = await workflow.acreate_run(run_id=run_id, engine=harness.engine)
    return await run.arestart()


async def test_should_throw_error_when_restarting_workflow_that_was_never_started(harness: Harness) -> None:
    """restart #1: should throw error when restarting workflow that was never started."""
    workflow = create_workflow("restart-never-started").then(create_step("s", execute=lambda c: {})).commit()
    run = await workflow.acreate_run(engine=harness.engine)
    with pytest.raises(errors.RunNotActiveError, match="This workflow run was not active"):
        await run.arestart()


async def test_should_restart_an_interrupted_workflow_execution(harness: Harness, calls: Calls) -> None:
    """restart #2: should restart a workflow execution whose only step was running."""
    gate = Gate()
    counter = counted(calls, "counter", lambda d: {"count": 1, "value": d["value"]}, gate)
    workflow = create_workflow("restart-completed-workflow").then(counter).commit()
    run_id = await crash_while_running(harness, workflow, {"value": 42}, [gate])
    result = await restart(harness, workflow, run_id)
    assert result.status == "success"
    assert result.steps["counter"].output == {"count": 1, "value": 42}
    assert calls["counter"] == 2  # once before the crash, once after the restart


async def test_should_restart_workflow_with_multiple_steps(harness: Harness, calls: Calls) -> None:
    """restart #3: completed steps are not run again; the running one is."""
    gate = Gate()
    step1 = counted(calls, "step1", lambda d: {"value": d["value"] + 10})
    step2 = counted(calls, "step2", lambda d: {"value": d["value"] * 2}, gate)
    workflow = create_workflow("restart-multistep-workflow").then(step1).then(step2).commit()
    run_id = await crash_while_running(harness, workflow, {"value": 5}, [gate])
    result = await restart(harness, workflow, run_id)
    assert result.status == "success"
    assert result.steps["step2"].output == {"value": 30}
    assert (calls["step1"], calls["step2"]) == (1, 2)


async def test_should_restart_a_failed_workflow_and_succeed_on_retry(harness: Harness, calls: Calls) -> None:
    """restart #4: a step whose process died is run again, now with its fault fixed."""
    gate = Gate()
    switch = {"fail": True}

    async def failing(ctx: Any) -> Any:
        calls.hit("failingStep")
        await gate.hold()
        if switch["fail"]:
            raise RuntimeError("still broken")
        return {"result": ctx.input_data["value"].upper()}

    workflow = (
        create_workflow("restart-failed-workflow").then(create_step("failingStep", execute=failing)).commit()
    )
    run_id = await crash_while_running(harness, workflow, {"value": "hello"}, [gate])
    switch["fail"] = False
    result = await restart(harness, workflow, run_id)
    assert result.status == "success"
    assert result.steps["failingStep"].output == {"result": "HELLO"}


async def test_should_restart_a_workflow_that_has_nested_workflows(harness: Harness, calls: Calls) -> None:
    """restart #5: the nested run continues where it was; its finished steps do not run again."""
    gate = Gate()
    step1 = counted(calls, "step1", lambda d: {"step1Result": 2})
    step2 = counted(calls, "step2", lambda d: {"step2Result": 3})
    step3 = counted(calls, "step3", lambda d: {"nestedFinal": d["step2Result"] + 1}, gate)
    step4 = counted(calls, "step4", lambda d: {"final": d["nestedFinal"] + 1})
    inner = create_workflow("restart-nestedWorkflow").then(step2).then(step3).commit()
    workflow = create_workflow("restart-nested-parent").then(step1).then(inner).then(step4).commit()
    run_id = await crash_while_running(harness, workflow, {"value": 0}, [gate])
    result = await restart(harness, workflow, run_id)
    assert result.status == "success"
    assert result.steps["restart-nestedWorkflow"].output == {"nestedFinal": 4}
    assert result.steps["step4"].output == {"final": 5}
    assert (calls["step1"], calls["step2"], calls["step3"], calls["step4"]) == (1, 1, 2, 1)


async def test_should_successfully_suspend_and_resume_a_restarted_workflow_execution(
    harness: Harness, calls: Calls
) -> None:
    """restart #6: a restarted run suspends and resumes like any other."""
    gate = Gate()

    async def prompt_agent(ctx: Any) -> Any:
        calls.hit("promptAgent")
        await gate.hold()
        if not ctx.resume_data:
            await ctx.suspend({"testPayload": "hello"})
            return None
        return {"modelOutput": "test output"}

    async def improve(ctx: Any) -> Any:
        calls.hit("improveResponse")
        if not ctx.resume_data:
            await ctx.suspend()
            return None
        return {"improvedOutput": "improved output"}

    improve_step = create_step("improveResponse", execute=improve)
    workflow = (
        create_workflow("restart-suspend-workflow")
        .then(counted(calls, "getUserInput", lambda d: {"userInput": "test input"}))
        .then(create_step("promptAgent", execute=prompt_agent))
        .then(counted(calls, "evaluateToneConsistency", lambda d: {"toneScore": {"score": 0.8}}))
        .then(improve_step)
        .then(counted(calls, "evaluateImprovedResponse", lambda d: {"toneScore": {"score": 0.9}}))
        .commit()
    )
    run_id = await crash_while_running(harness, workflow, {"input": "test"}, [gate])
    restarted = await restart(harness, workflow, run_id)
    assert restarted.status == "suspended"
    assert restarted.steps["promptAgent"].to_dict() == {
        "status": "suspended",
        "payload": {"userInput": "test input"},
        "suspend_payload": {"testPayload": "hello"},
        "started_at": restarted.steps["promptAgent"].started_at,
        "suspended_at": restarted.steps["promptAgent"].suspended_at,
    }
    second = await harness.resume(workflow, run_id, {"userInput": "more"}, step="promptAgent")
    assert second.steps["promptAgent"].output == {"modelOutput": "test output"}
    assert second.steps["evaluateToneConsistency"].status == "success"
    assert second.steps["improveResponse"].status == "suspended"
    final = await harness.resume(workflow, run_id, {"ok": True}, step=improve_step)
    assert final.status == "success"
    assert final.steps["improveResponse"].output == {"improvedOutput": "improved output"}
    assert final.steps["evaluateImprovedResponse"].status == "success"
    assert (calls["getUserInput"], calls["promptAgent"]) == (1, 3)


async def test_should_restart_workflow_with_parallel_steps(harness: Harness, calls: Calls) -> None:
    """restart #7: both parallel steps were running; both run again and join."""
    gates = [Gate(), Gate()]
    step1 = counted(calls, "step1", lambda d: {"result": d["value"] * 2}, gates[0])
    step2 = counted(calls, "step2", lambda d: {"result": d["value"] * 3}, gates[1])
    workflow = create_workflow("restart-parallel-workflow").parallel([step1, step2]).commit()
    run_id = await crash_while_running(harness, workflow, {"value": 5}, gates)
    result = await restart(harness, workflow, run_id)
    assert result.status == "success"
    assert result.steps["step1"].output == {"result": 10}
    assert result.steps["step2"].output == {"result": 15}
    assert (calls["step1"], calls["step2"]) == (2, 2)


async def until_event(run_id: str, kind: str) -> None:
    """Poll the stored log until an event of ``kind`` is in it (with a deadline)."""
    storage = runtime.get_storage()
    deadline = time.monotonic() + 20
    while not any(event["type"] == kind for event in await storage.aread_events(run_id)):
        assert time.monotonic() < deadline, f"no {kind} event in run {run_id}"
        await asyncio.sleep(0.02)


async def test_restart_of_a_run_whose_process_died_in_a_sleep_keeps_its_wake_time(
    harness: Harness, calls: Calls
) -> None:
    """A death during a durable sleep: restart re-arms the stored timer, done steps do not run again."""
    before = counted(calls, "before", lambda d: {"n": d["n"] + 1})
    after = counted(calls, "after", lambda d: {"n": d["n"] + 1})
    workflow = create_workflow("restart-in-sleep").then(before).sleep(3.0).then(after).commit()
    run = await workflow.acreate_run(engine=harness.engine)
    await run.aenqueue({"n": 0})
    await until_event(run.run_id, "workflow-step-waiting")
    await harness.acrash(run)
    began = time.monotonic()
    result = await restart(harness, workflow, run.run_id)
    assert result.status == "success"
    assert result.result == {"n": 2}
    assert (calls["before"], calls["after"]) == (1, 1)
    assert time.monotonic() - began < 3.0 + 10  # the sleep went on from its stored due time


async def test_restart_of_a_run_whose_process_died_in_a_foreach(harness: Harness, calls: Calls) -> None:
    """A death while foreach items ran: every unfinished item runs again, the foreach joins once."""
    gate = Gate()
    item = counted(calls, "item", lambda d: {"double": d["value"] * 2}, gate)
    workflow = (
        create_workflow("restart-in-foreach")
        .then(counted(calls, "items", lambda d: [{"value": v} for v in d["values"]]))
        .foreach(item, concurrency=3)
        .commit()
    )
    run = await workflow.acreate_run(engine=harness.engine)
    await run.aenqueue({"values": [1, 2, 3]})
    await awaituntil(lambda: len(gate.entries) == 3)
    await harness.acrash(run)
    gate.blocking = False
    result = await restart(harness, workflow, run.run_id)
    assert result.status == "success"
    assert result.result == [{"double": 2}, {"double": 4}, {"double": 6}]
    assert (calls["items"], calls["item"]) == (1, 6)


async def test_restart_is_refused_while_a_live_worker_holds_the_run(harness: Harness, calls: Calls) -> None:
    """Restart is for a run whose process died: while a worker still runs its step, it is refused."""
    gate = Gate()
    workflow = create_workflow("restart-held").then(counted(calls, "slow", lambda d: d, gate)).commit()
    run = await workflow.acreate_run(engine=harness.engine)
    await run.aenqueue({"value": 1})
    await awaituntil(lambda: bool(gate.entries))
    handle = await workflow.acreate_run(run_id=run.run_id, engine=harness.engine)
    refusal = await handle.arestart_refusal()
    assert isinstance(refusal, errors.RunHeldError)
    with pytest.raises(errors.RunHeldError, match="still being worked on"):
        await handle.arestart()
    await harness.acrash(run)
    assert await handle.arestart_refusal() is None
    gate.blocking = False
    assert (await restart(harness, workflow, run.run_id)).status == "success"
