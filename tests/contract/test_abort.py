"""Abort and cancel (spec: abort #1-#7).

A step sees ``ctx.abort_signal`` (``.aborted``, awaitable) and ``await
ctx.abort()``; calling ``abort()`` or ``run.acancel()`` ends the run as
``canceled`` and no later step runs. A cancel reaches a step that is running:
its signal is set and its task stopped. Workflow ids carry the ``abort-``
prefix.
"""

from __future__ import annotations

import asyncio
from typing import Any

from workflows_app import AbortSignal, create_step, create_workflow
from workflows_app.testing import awaituntil

from .conftest import Calls, Harness
from .processes import shared_list
from .shapes import Doubled, Value, new_run_id, returning


async def work_or_abort(signal: AbortSignal) -> bool:
    """Do a step's (short) work while listening for the run's cancel; ``True`` if aborted first."""
    work = asyncio.ensure_future(asyncio.sleep(0))
    aborted = asyncio.ensure_future(signal.wait())
    done, pending = await asyncio.wait({work, aborted}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return aborted in done


async def test_should_provide_abort_signal_to_step_execute_function(harness: Harness) -> None:
    """abort #1: should provide abort signal to step execute function."""
    captured: list[Any] = shared_list()

    async def execute(ctx: Any) -> Any:
        captured.append(ctx.abort_signal)
        return {"result": "success"}

    workflow = create_workflow("abort-signal-provided").then(create_step("step1", execute=execute)).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert len(captured) == 1
    assert isinstance(captured[0], AbortSignal)
    assert captured[0].aborted is False


async def test_should_provide_abort_function_to_step_execute_function(harness: Harness) -> None:
    """abort #2: should provide abort function to step execute function."""
    captured: list[Any] = shared_list()

    async def execute(ctx: Any) -> Any:
        captured.append(callable(ctx.abort))
        return {"result": "success"}

    workflow = create_workflow("abort-function-provided").then(create_step("step1", execute=execute)).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert captured == [True]


async def test_should_abort_workflow_when_abort_function_is_called(harness: Harness, calls: Calls) -> None:
    """abort #3: should abort workflow when abort function is called (stored status too)."""

    async def aborting(ctx: Any) -> Any:
        calls.hit("step2")
        await ctx.abort()
        return {"result": "step2 returned after abort"}

    workflow = (
        create_workflow("abort-function-called")
        .then(returning(calls, "step1", {"result": "step1"}))
        .then(create_step("step2", execute=aborting))
        .then(returning(calls, "step3", {"result": "step3"}))
        .commit()
    )
    run_id = new_run_id("abort-function-called")
    result = await harness.execute(workflow, {}, run_id=run_id)
    assert result.status == "canceled"
    assert (calls["step1"], calls["step2"], calls["step3"]) == (1, 1, 0)
    assert result.steps["step1"].status == "success"
    assert "step3" not in result.steps
    harness.fresh_process()
    stored = await workflow.aget_run(run_id)
    assert stored is not None
    assert stored.status == "canceled"


async def test_should_prepare_workflow_for_immediate_abort(harness: Harness, calls: Calls) -> None:
    """abort #4: should prepare workflow for immediate abort (no abort is triggered).

    The spec's step sleeps for a second; ours yields to the event loop instead
    (no timings in tests).
    """

    async def working(ctx: Any) -> Any:
        calls.hit("step1")
        await asyncio.sleep(0)
        return {"result": "step1 done", "aborted": ctx.abort_signal.aborted}

    workflow = create_workflow("abort-immediate-setup").then(create_step("step1", execute=working)).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert calls["step1"] == 1
    assert result.steps["step1"].output == {"result": "step1 done", "aborted": False}


async def test_should_provide_abort_signal_that_can_be_listened_to_during_step_execution(
    harness: Harness, calls: Calls
) -> None:
    """abort #5: should provide abort signal that can be listened to during step execution.

    The spec's step waits five seconds for an abort that never comes; here the
    run is canceled while step2 listens, so the listener really fires: step2
    sees its signal set, the run ends ``canceled`` and step3 never runs.
    """
    heard: list[bool] = shared_list()

    async def listening(ctx: Any) -> Any:
        calls.hit("step2")
        try:
            await ctx.abort_signal
        finally:
            heard.append(ctx.abort_signal.aborted)
        return {"result": "stopped by abort"}

    workflow = (
        create_workflow("abort-listen-during-step")
        .then(returning(calls, "step1", {"result": "step1"}))
        .then(create_step("step2", execute=listening))
        .then(returning(calls, "step3", {"result": "step3"}))
        .commit()
    )
    run_id = new_run_id("abort-listen-during-step")
    running = asyncio.ensure_future(harness.execute(workflow, {}, run_id=run_id))
    await awaituntil(lambda: calls["step2"] == 1 or running.done())
    run = await workflow.acreate_run(run_id=run_id, engine=harness.engine)
    await run.acancel()
    result = await running
    assert result.status == "canceled"
    await awaituntil(lambda: heard == [True])
    assert (calls["step1"], calls["step2"], calls["step3"]) == (1, 1, 0)
    assert result.steps["step1"].status == "success"
    assert "step3" not in result.steps


async def test_should_have_nested_workflow_setup_for_abort_propagation_testing(
    harness: Harness, calls: Calls
) -> None:
    """abort #6: should have nested workflow setup for abort propagation testing (no abort is triggered).

    The nested step listens for an abort while it works; its work (a yield to the
    event loop, not the spec's five seconds) wins.
    """

    async def double(ctx: Any) -> Any:
        calls.hit("parent-step")
        return {"doubled": ctx.input_data["value"] * 2}

    async def long_running(ctx: Any) -> Any:
        calls.hit("nested-step")
        aborted = await work_or_abort(ctx.abort_signal)
        return {"doubled": ctx.input_data["doubled"], "aborted": aborted}

    nested = (
        create_workflow("abort-nested-workflow", input_schema=Doubled)
        .then(create_step("nested-step", execute=long_running, input_schema=Doubled))
        .commit()
    )
    workflow = (
        create_workflow("abort-nested-parent", input_schema=Value)
        .then(create_step("parent-step", execute=double, input_schema=Value, output_schema=Doubled))
        .then(nested)
        .commit()
    )
    result = await harness.execute(workflow, {"value": 5})
    assert result.status == "success"
    parent = result.steps["parent-step"]
    assert (parent.status, parent.output) == ("success", {"doubled": 10})
    inner = result.steps["abort-nested-workflow"]
    assert (inner.status, inner.output) == ("success", {"doubled": 10, "aborted": False})
    assert (calls["parent-step"], calls["nested-step"]) == (1, 1)


async def test_should_suspend_workflow_that_can_be_canceled(harness: Harness, calls: Calls) -> None:
    """abort #7: should suspend workflow that can be canceled.

    Beyond the spec's setup, the suspended run is then canceled from a fresh
    process: storage says ``canceled`` and step3 never runs.
    """

    async def waiting(ctx: Any) -> Any:
        calls.hit("step2")
        return await ctx.suspend({"reason": "waiting for approval"})

    workflow = (
        create_workflow("abort-suspended-cancel")
        .then(returning(calls, "step1", {"result": "step1"}))
        .then(create_step("step2", execute=waiting))
        .then(returning(calls, "step3", {"result": "step3"}))
        .commit()
    )
    run_id = new_run_id("abort-suspended-cancel")
    result = await harness.execute(workflow, {}, run_id=run_id)
    assert result.status == "suspended"
    assert (calls["step1"], calls["step2"], calls["step3"]) == (1, 1, 0)
    step2 = result.steps["step2"]
    assert (step2.status, step2.suspend_payload) == ("suspended", {"reason": "waiting for approval"})

    harness.fresh_process()
    run = await workflow.acreate_run(run_id=run_id, engine=harness.engine)
    await run.acancel()
    stored = await workflow.aget_run(run_id)
    assert stored is not None
    assert stored.status == "canceled"
    assert calls["step3"] == 0
