"""Suspend and resume: payloads, parallel, branch, loops, map (spec: suspend-resume #1-#20).

Foreach suspend/resume (#21-#26) is in test_suspend_resume_foreach.py; nested
paths, labels in nested workflows and resume errors (#27-#48) are in
test_suspend_resume_nested.py. A step that suspends calls ``await ctx.suspend()``
and returns: suspending does not raise, as in Mastra. Resumes go through
``harness.resume``, which builds a fresh ``Run`` with fresh engines, so each
resume only sees what the run persisted.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import pytest
from pydantic import BaseModel

from workflows_app import create_step, create_workflow, errors

from .conftest import Calls, Harness
from .processes import shared_list
from .shapes import Divisor, Empty, Multiplier, Number, TextValue, UserInput, new_run_id, returning


class Reason(BaseModel):
    reason: str


def suspending(calls: Calls, step_id: str, *payload: Any, **options: Any) -> Any:
    """A step that records its call and suspends, with ``payload`` if one is given."""

    async def execute(ctx: Any) -> Any:
        calls.hit(step_id, ctx.input_data)
        return await ctx.suspend(*payload)

    return create_step(step_id, execute=execute, **options)


def times_after_resume(calls: Calls, step_id: str, key: str, **options: Any) -> Any:
    """Suspends until resumed, then returns ``value * resume_data[key]`` (``/`` for a divisor)."""

    async def execute(ctx: Any) -> Any:
        calls.hit(step_id, ctx.input_data)
        if ctx.resume_data is None:
            await ctx.suspend({})
            return {"result": 0}
        factor = ctx.resume_data[key]
        value = ctx.input_data["value"]
        return {"result": value // factor if key == "divisor" else value * factor}

    return create_step(step_id, execute=execute, input_schema=Number, **options)


def two_step_resume_workflow(calls: Calls, workflow_id: str, label: str | None = None) -> Any:
    """step1 -> step2, which suspends on its first call and echoes the resume data after."""

    async def step2_execute(ctx: Any) -> Any:
        calls.hit("step2", ctx.input_data)
        if calls["step2"] == 1:
            reason = "waiting" if label else "waiting for user input"
            return await ctx.suspend({"reason": reason}, label=label)
        return {"result": "completed", "userInput": (ctx.resume_data or {}).get("userInput") or "default"}

    step1 = returning(calls, "step1", {"value": "step1-done"}, input_schema=Empty)
    step2 = create_step(
        "step2", execute=step2_execute, input_schema=TextValue, suspend_schema=Reason, resume_schema=UserInput
    )
    return create_workflow(workflow_id, input_schema=Empty).then(step1).then(step2).commit()


# -- suspending ---------------------------------------------------------------------------


async def test_should_return_the_correct_run_id(harness: Harness, calls: Calls) -> None:
    """suspend-resume #1: should return the correct runId (the run id given is the result's)."""
    step1 = returning(calls, "step1", {"result": "success"}, input_schema=Empty)
    workflow = create_workflow("srb-runid-workflow", input_schema=Empty).then(step1).commit()
    run_id = new_run_id("srb-runid")

    result = await harness.execute(workflow, {}, run_id=run_id)

    assert result.status == "success"
    assert calls["step1"] == 1
    assert result.run_id == run_id


async def test_should_suspend_workflow_when_suspend_is_called(harness: Harness, calls: Calls) -> None:
    """suspend-resume #2: should suspend workflow when suspend is called."""
    step1 = returning(calls, "step1", {"value": "step1-done"}, input_schema=Empty)
    step2 = suspending(
        calls, "step2", {"reason": "waiting for approval"}, input_schema=TextValue, suspend_schema=Reason
    )
    workflow = (
        create_workflow("srb-suspend-test-workflow", input_schema=Empty).then(step1).then(step2).commit()
    )

    result = await harness.execute(workflow, {})

    assert result.status == "suspended"
    assert (calls["step1"], calls["step2"]) == (1, 1)
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"value": "step1-done"}
    assert result.steps["step2"].to_dict() == {
        "status": "suspended",
        "payload": {"value": "step1-done"},
        "suspend_payload": {"reason": "waiting for approval"},
        "started_at": ANY,
        "suspended_at": ANY,
    }
    assert result.suspended == [["step2"]]


async def test_should_handle_suspend_with_empty_payload(harness: Harness, calls: Calls) -> None:
    """suspend-resume #3: should handle suspend with empty payload (``suspend()`` records no payload)."""
    step1 = suspending(calls, "step1", input_schema=Empty)
    workflow = create_workflow("srb-empty-suspend-workflow", input_schema=Empty).then(step1).commit()

    result = await harness.execute(workflow, {})

    assert result.status == "suspended"
    assert result.steps["step1"].status == "suspended"
    assert "suspend_payload" not in result.steps["step1"].to_dict()


async def test_should_suspend_with_typed_payload_and_suspend_schema(harness: Harness, calls: Calls) -> None:
    """suspend-resume #4: should suspend with typed payload and suspendSchema."""

    class Approval(BaseModel):
        approvalRequired: bool
        requestedBy: str
        amount: int

    payload = {"approvalRequired": True, "requestedBy": "user-123", "amount": 500}
    step1 = suspending(calls, "step1", payload, input_schema=Empty, suspend_schema=Approval)
    workflow = create_workflow("srb-typed-suspend-workflow", input_schema=Empty).then(step1).commit()

    result = await harness.execute(workflow, {})

    assert result.status == "suspended"
    assert calls["step1"] == 1
    assert result.steps["step1"].status == "suspended"
    assert result.steps["step1"].suspend_payload == payload


async def test_should_not_execute_steps_after_suspended_step(harness: Harness, calls: Calls) -> None:
    """suspend-resume #5: should not execute steps after suspended step."""
    step1 = returning(calls, "step1", {"value": "step1-done"}, input_schema=Empty)
    step2 = suspending(
        calls, "step2", {"reason": "approval needed"}, input_schema=TextValue, suspend_schema=Reason
    )
    step3 = returning(calls, "step3", {"final": "should not run"})
    workflow = (
        create_workflow("srb-suspend-stops-execution-workflow", input_schema=Empty)
        .then(step1)
        .then(step2)
        .then(step3)
        .commit()
    )

    result = await harness.execute(workflow, {})

    assert result.status == "suspended"
    assert (calls["step1"], calls["step2"], calls["step3"]) == (1, 1, 0)
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"value": "step1-done"}
    assert result.steps["step2"].status == "suspended"
    assert result.steps["step2"].suspend_payload == {"reason": "approval needed"}
    assert "step3" not in result.steps


async def test_should_handle_suspend_in_conditional_branch(harness: Harness, calls: Calls) -> None:
    """suspend-resume #6: should handle suspend in conditional branch."""
    check = returning(calls, "check", {"needsApproval": True}, input_schema=Empty)
    approval = suspending(calls, "approval", {"type": "manager-approval"})
    auto_approve = returning(calls, "autoApprove", {"approved": True})
    workflow = (
        create_workflow("srb-suspend-in-branch-workflow", input_schema=Empty)
        .then(check)
        .branch(
            [
                (lambda ctx: ctx.input_data["needsApproval"] is True, approval),
                (lambda ctx: ctx.input_data["needsApproval"] is False, auto_approve),
            ]
        )
        .commit()
    )

    result = await harness.execute(workflow, {})

    assert result.status == "suspended"
    assert (calls["check"], calls["approval"], calls["autoApprove"]) == (1, 1, 0)
    assert result.steps["check"].status == "success"
    assert result.steps["check"].output == {"needsApproval": True}
    assert result.steps["approval"].status == "suspended"
    assert result.steps["approval"].suspend_payload == {"type": "manager-approval"}
    assert "autoApprove" not in result.steps


async def test_should_suspend_workflow_with_state_modifications(harness: Harness, calls: Calls) -> None:
    """suspend-resume #7: should suspend workflow with state modifications (the state set before
    suspending is kept with the suspended run)."""

    class State(BaseModel):
        value: str

    async def step2_execute(ctx: Any) -> Any:
        calls.hit("step2", ctx.input_data)
        if calls["step2"] == 1:
            await ctx.set_state({**ctx.state, "value": ctx.state["value"] + "-modified"})
            return await ctx.suspend({"reason": "waiting"})
        return {"result": "resumed", "stateValue": ctx.state["value"]}

    async def step3_execute(ctx: Any) -> Any:
        calls.hit("step3", ctx.input_data)
        return {"final": "done", "stateValue": ctx.state["value"]}

    step1 = returning(calls, "step1", {"value": "step1-done"}, input_schema=Empty)
    step2 = create_step(
        "step2",
        execute=step2_execute,
        input_schema=TextValue,
        suspend_schema=Reason,
        resume_schema=Empty,
        state_schema=State,
    )
    step3 = create_step("step3", execute=step3_execute, state_schema=State)
    workflow = (
        create_workflow("srb-suspend-with-state-workflow", input_schema=Empty, state_schema=State)
        .then(step1)
        .then(step2)
        .then(step3)
        .commit()
    )

    result = await harness.execute(workflow, {}, initial_state={"value": "initial"}, include_state=True)

    assert result.status == "suspended"
    assert (calls["step1"], calls["step2"], calls["step3"]) == (1, 1, 0)
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"value": "step1-done"}
    assert result.steps["step2"].status == "suspended"
    assert result.steps["step2"].suspend_payload == {"reason": "waiting"}
    assert result.state == {"value": "initial-modified"}


async def test_should_remain_suspended_when_one_of_parallel_steps_suspends(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #8: should remain suspended when one of parallel steps suspends."""
    step1 = returning(calls, "step1", {"result": "normal-done"}, input_schema=Empty)
    step2 = suspending(calls, "step2", {"waitingFor": "approval"}, input_schema=Empty)
    workflow = (
        create_workflow("srb-parallel-one-suspend-workflow", input_schema=Empty)
        .parallel([step1, step2])
        .commit()
    )

    result = await harness.execute(workflow, {})

    assert result.status == "suspended"
    assert (calls["step1"], calls["step2"]) == (1, 1)
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"result": "normal-done"}
    assert result.steps["step2"].status == "suspended"
    assert result.steps["step2"].suspend_payload == {"waitingFor": "approval"}
    assert result.suspended == [["step2"]]


async def test_should_complete_parallel_workflow_when_no_steps_suspend(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #9: should complete parallel workflow when no steps suspend."""
    step1 = returning(calls, "step1", {"value": 10}, input_schema=Empty)
    step2 = returning(calls, "step2", {"value": 20}, input_schema=Empty)
    workflow = (
        create_workflow("srb-parallel-no-suspend-workflow", input_schema=Empty)
        .parallel([step1, step2])
        .commit()
    )

    result = await harness.execute(workflow, {})

    assert result.status == "success"
    assert (calls["step1"], calls["step2"]) == (1, 1)
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"value": 10}
    assert result.steps["step2"].status == "success"
    assert result.steps["step2"].output == {"value": 20}
    assert result.result == {"step1": {"value": 10}, "step2": {"value": 20}}


async def test_should_propagate_suspend_from_nested_workflow(harness: Harness, calls: Calls) -> None:
    """suspend-resume #10: should propagate suspend from nested workflow."""
    outer = returning(calls, "outer-step", {"value": "outer-done"}, input_schema=Empty)
    inner = suspending(calls, "inner-step", {"nestedReason": "inner-waiting"}, input_schema=TextValue)
    nested = create_workflow("srb-nested-suspend-inner", input_schema=TextValue).then(inner).commit()
    workflow = (
        create_workflow("srb-nested-suspend-main", input_schema=Empty).then(outer).then(nested).commit()
    )

    result = await harness.execute(workflow, {})

    assert result.status == "suspended"
    assert (calls["outer-step"], calls["inner-step"]) == (1, 1)
    assert result.steps["outer-step"].status == "success"
    assert result.steps["outer-step"].output == {"value": "outer-done"}
    assert result.steps["srb-nested-suspend-inner"].status == "suspended"
    assert result.suspended == [["srb-nested-suspend-inner", "inner-step"]]


# -- resuming -----------------------------------------------------------------------------


async def test_should_handle_basic_suspend_and_resume_flow(harness: Harness, calls: Calls) -> None:
    """suspend-resume #11: should handle basic suspend and resume flow."""
    workflow = two_step_resume_workflow(calls, "srb-basic-resume-workflow")
    run_id = new_run_id("srb-basic-resume")

    suspended = await harness.execute(workflow, {}, run_id=run_id)

    assert suspended.status == "suspended"
    assert calls["step1"] == 1
    assert suspended.steps["step2"].status == "suspended"
    assert suspended.steps["step2"].suspend_payload == {"reason": "waiting for user input"}

    result = await harness.resume(workflow, run_id, {"userInput": "hello from resume"}, step="step2")

    assert result.status == "success"
    assert (calls["step1"], calls["step2"]) == (1, 2)
    assert result.steps["step2"].to_dict() == {
        "status": "success",
        "payload": {"value": "step1-done"},
        "output": {"result": "completed", "userInput": "hello from resume"},
        "suspend_payload": {"reason": "waiting for user input"},
        "resume_payload": {"userInput": "hello from resume"},
        "started_at": ANY,
        "ended_at": ANY,
        "suspended_at": ANY,
        "resumed_at": ANY,
    }
    assert result.result == {"result": "completed", "userInput": "hello from resume"}


async def test_should_handle_suspend_and_resume_using_resume_label(harness: Harness, calls: Calls) -> None:
    """suspend-resume #12: should handle suspend and resume using resumeLabel."""
    workflow = two_step_resume_workflow(calls, "srb-resume-with-label-workflow", label="my-custom-label")
    run_id = new_run_id("srb-resume-label")

    suspended = await harness.execute(workflow, {}, run_id=run_id)

    assert suspended.status == "suspended"
    assert calls["step1"] == 1
    assert suspended.steps["step2"].status == "suspended"
    assert suspended.steps["step2"].suspend_payload == {"reason": "waiting"}

    result = await harness.resume(
        workflow, run_id, {"userInput": "resumed via label"}, label="my-custom-label"
    )

    assert result.status == "success"
    assert result.steps["step2"].status == "success"
    assert result.steps["step2"].output == {"result": "completed", "userInput": "resumed via label"}


async def test_should_preserve_state_across_suspend_and_resume_cycles(harness: Harness) -> None:
    """suspend-resume #13: should preserve state across suspend and resume cycles."""

    class State(BaseModel):
        count: int
        items: list[str]

    class Proceed(BaseModel):
        proceed: bool

    observed: list[dict[str, Any]] = shared_list()

    async def step1_execute(ctx: Any) -> Any:
        observed.append({"step": "step-1", "state": dict(ctx.state)})
        if ctx.resume_data is None:
            state = ctx.state
            await ctx.set_state({**state, "count": state["count"] + 1, "items": [*state["items"], "item-1"]})
            await ctx.suspend({})
            return {}
        return {}

    async def step2_execute(ctx: Any) -> Any:
        observed.append({"step": "step-2", "state": dict(ctx.state)})
        return {"finalCount": ctx.state["count"], "itemCount": len(ctx.state["items"])}

    step1 = create_step(
        "step1", execute=step1_execute, input_schema=Empty, state_schema=State, resume_schema=Proceed
    )
    step2 = create_step("step2", execute=step2_execute, input_schema=Empty, state_schema=State)
    workflow = (
        create_workflow("srb-state-persistence-resume-workflow", input_schema=Empty, state_schema=State)
        .then(step1)
        .then(step2)
        .commit()
    )
    run_id = new_run_id("srb-state-resume")

    started = await harness.execute(workflow, {}, run_id=run_id, initial_state={"count": 0, "items": []})

    assert started.status == "suspended"
    assert observed == [{"step": "step-1", "state": {"count": 0, "items": []}}]

    result = await harness.resume(workflow, run_id, {"proceed": True}, step="step1")

    assert result.status == "success"
    assert len(observed) >= 2
    step2_seen = next(o for o in observed if o["step"] == "step-2")
    assert step2_seen["state"] == {"count": 1, "items": ["item-1"]}
    assert result.result == {"finalCount": 1, "itemCount": 1}


async def test_should_handle_multiple_suspend_resume_cycles_in_parallel_workflow(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #14: should handle multiple suspend/resume cycles in parallel workflow."""

    class Increment(BaseModel):
        increment: int

    async def step1_execute(ctx: Any) -> Any:
        calls.hit("multi-resume-step-1", ctx.input_data)
        if ctx.resume_data is None:
            await ctx.suspend({})
            return {"result": 0}
        return {"result": ctx.input_data["value"] + ctx.resume_data["increment"]}

    step1 = create_step(
        "multi-resume-step-1", execute=step1_execute, input_schema=Number, resume_schema=Increment
    )
    step2 = times_after_resume(calls, "multi-resume-step-2", "multiplier", resume_schema=Multiplier)
    workflow = (
        create_workflow("srb-multi-suspend-parallel-workflow", input_schema=Number)
        .parallel([step1, step2])
        .commit()
    )
    run_id = new_run_id("srb-multi-parallel")

    started = await harness.execute(workflow, {"value": 10}, run_id=run_id)

    assert started.status == "suspended"
    assert started.suspended == [["multi-resume-step-1"], ["multi-resume-step-2"]]

    first = await harness.resume(workflow, run_id, {"increment": 5}, step="multi-resume-step-1")

    assert first.status == "suspended"
    assert first.steps["multi-resume-step-1"].status == "success"
    assert first.suspended == [["multi-resume-step-2"]]

    second = await harness.resume(workflow, run_id, {"multiplier": 3}, step="multi-resume-step-2")

    assert second.status == "success"
    assert second.result == {"multi-resume-step-1": {"result": 15}, "multi-resume-step-2": {"result": 30}}
    assert (calls["multi-resume-step-1"], calls["multi-resume-step-2"]) == (2, 2)


async def test_should_throw_error_when_multiple_steps_are_suspended_and_no_step_specified(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #15: should throw error when multiple steps are suspended and no step specified
    (raised as errors.MultipleSuspendedStepsError; the failed attempt leaves the run resumable)."""
    step1 = times_after_resume(calls, "branch-step-1", "multiplier", resume_schema=Multiplier)
    step2 = times_after_resume(calls, "branch-step-2", "divisor", resume_schema=Divisor)
    workflow = (
        create_workflow("srb-multi-suspend-branch-workflow", input_schema=Number)
        .branch([(lambda ctx: True, step1), (lambda ctx: True, step2)])
        .commit()
    )
    run_id = new_run_id("srb-multi-suspend-error")

    started = await harness.execute(workflow, {"value": 100}, run_id=run_id)

    assert started.status == "suspended"
    assert len(started.suspended) > 1
    assert started.suspended == [["branch-step-1"], ["branch-step-2"]]

    with pytest.raises(errors.MultipleSuspendedStepsError, match=r"Multiple suspended steps found"):
        await harness.resume(workflow, run_id, {"multiplier": 2})
    assert (calls["branch-step-1"], calls["branch-step-2"]) == (1, 1)

    result = await harness.resume(workflow, run_id, {"multiplier": 2}, step="branch-step-1")

    assert result.status == "suspended"
    assert len(result.suspended) == 1
    assert result.suspended == [["branch-step-2"]]


async def test_should_support_both_explicit_step_resume_and_auto_resume(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #16: should support both explicit step resume and auto-resume."""

    class Extra(BaseModel):
        extraData: str

    class Result(BaseModel):
        result: str

    async def suspend_execute(ctx: Any) -> Any:
        calls.hit("suspend-step", ctx.input_data)
        if ctx.resume_data is None:
            await ctx.suspend({"waitingFor": "user-input", "originalValue": ctx.input_data["value"]})
            return {"result": ""}
        return {"result": f"processed-{ctx.resume_data['extraData']}"}

    async def complete_execute(ctx: Any) -> Any:
        calls.hit("complete-step", ctx.input_data)
        return {"final": f"Completed: {ctx.input_data['result']}"}

    suspend_step = create_step(
        "suspend-step", execute=suspend_execute, input_schema=Number, resume_schema=Extra
    )
    complete_step = create_step("complete-step", execute=complete_execute, input_schema=Result)
    workflow = (
        create_workflow("srb-auto-resume-test-workflow", input_schema=Number)
        .then(suspend_step)
        .then(complete_step)
        .commit()
    )

    explicit_run = new_run_id("srb-auto-resume-explicit")
    first = await harness.execute(workflow, {"value": 42}, run_id=explicit_run)

    assert first.status == "suspended"
    assert first.suspended == [["suspend-step"]]
    assert "suspend-step" in first.suspended[0]

    explicit = await harness.resume(
        workflow, explicit_run, {"extraData": "explicit-resume"}, step="suspend-step"
    )

    assert explicit.status == "success"
    assert explicit.result["final"] == "Completed: processed-explicit-resume"

    auto_run = new_run_id("srb-auto-resume-auto")
    second = await harness.execute(workflow, {"value": 100}, run_id=auto_run)
    assert second.status == "suspended"

    auto = await harness.resume(workflow, auto_run, {"extraData": "auto-resume"})

    assert auto.status == "success"
    assert auto.result["final"] == "Completed: processed-auto-resume"


async def test_should_maintain_correct_step_status_after_resuming_in_branching_workflows(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #17: should maintain correct step status after resuming in branching workflows."""
    step1 = times_after_resume(calls, "branch-step-1", "multiplier", resume_schema=Multiplier)
    step2 = times_after_resume(calls, "branch-step-2", "multiplier", resume_schema=Multiplier)
    workflow = (
        create_workflow("srb-branching-resume-status-workflow", input_schema=Number)
        .branch([(lambda ctx: True, step1), (lambda ctx: True, step2)])
        .commit()
    )
    run_id = new_run_id("srb-branching-resume")

    started = await harness.execute(workflow, {"value": 10}, run_id=run_id)

    assert started.status == "suspended"
    assert started.steps["branch-step-1"].status == "suspended"
    assert started.steps["branch-step-2"].status == "suspended"
    assert len(started.suspended) == 2
    assert "branch-step-1" in started.suspended[0]
    assert "branch-step-2" in started.suspended[1]

    first = await harness.resume(workflow, run_id, {"multiplier": 2}, step="branch-step-1")

    assert first.status == "suspended"
    assert first.steps["branch-step-1"].status == "success"
    assert first.steps["branch-step-2"].status == "suspended"
    assert len(first.suspended) == 1
    assert "branch-step-2" in first.suspended[0]

    final = await harness.resume(workflow, run_id, {"multiplier": 3}, step="branch-step-2")

    assert final.status == "success"
    assert final.steps["branch-step-1"].status == "success"
    assert final.steps["branch-step-2"].status == "success"
    assert final.result == {"branch-step-1": {"result": 20}, "branch-step-2": {"result": 30}}


async def test_should_handle_basic_suspend_and_resume_in_a_dountil_workflow(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #18: should handle basic suspend and resume in a dountil workflow
    (resume through a path into a nested workflow that is the body of the loop)."""

    class Message(BaseModel):
        message: str

    async def increment_execute(ctx: Any) -> Any:
        calls.hit("increment", ctx.input_data)
        return {"value": ctx.input_data["value"] + 1}

    async def resume_execute(ctx: Any) -> Any:
        calls.hit("resume", ctx.input_data)
        given = (ctx.resume_data or {}).get("value")
        final_value = (given or 0) + ctx.input_data["value"]
        if not given or final_value < 10:
            value = ctx.input_data["value"]
            return await ctx.suspend(
                {"message": f"Please provide additional information. now value is {value}"}
            )
        return {"value": final_value}

    async def final_execute(ctx: Any) -> Any:
        calls.hit("final", ctx.input_data)
        return {"value": ctx.input_data["value"]}

    increment = create_step("increment", execute=increment_execute, input_schema=Number)
    resume = create_step(
        "resume", execute=resume_execute, input_schema=Number, resume_schema=Number, suspend_schema=Message
    )
    final = create_step("final", execute=final_execute, input_schema=Number)
    nested = create_workflow("srb-simple-resume-workflow", input_schema=Number).then(increment).then(resume)
    nested.commit()
    workflow = (
        create_workflow("srb-dountil-suspend-workflow", input_schema=Number)
        .dountil(nested, lambda ctx: ctx.input_data["value"] >= 10)
        .then(final)
        .commit()
    )
    run_id = new_run_id("srb-dountil-suspend")

    started = await harness.execute(workflow, {"value": 0}, run_id=run_id)

    assert started.status == "suspended"
    assert started.steps["srb-simple-resume-workflow"].status == "suspended"

    again = await harness.resume(
        workflow, run_id, {"value": 2}, step=["srb-simple-resume-workflow", "resume"]
    )

    assert again.status == "suspended"
    assert again.steps["srb-simple-resume-workflow"].status == "suspended"
    assert again.suspended == [["srb-simple-resume-workflow", "resume"]]

    done = await harness.resume(
        workflow, run_id, {"value": 21}, step=["srb-simple-resume-workflow", "resume"]
    )

    assert done.status == "success"
    assert done.steps["srb-simple-resume-workflow"].status == "success"
    assert done.steps["srb-simple-resume-workflow"].output == {"value": 22}
    assert done.result == {"value": 22}
    assert (calls["increment"], calls["resume"], calls["final"]) == (1, 3, 1)


async def test_should_have_access_to_the_correct_input_value_when_resuming_in_a_loop(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #19: should have access to the correct input value when resuming in a loop."""

    class LoopInput(BaseModel):
        value: int
        condition: bool = False

    class Continue(BaseModel):
        shouldContinue: bool

    async def step1_execute(ctx: Any) -> Any:
        calls.hit("step-1", ctx.input_data)
        value, condition = ctx.input_data["value"], ctx.input_data["condition"]
        if not (ctx.resume_data or {}).get("shouldContinue"):
            await ctx.suspend({"message": f"Continue with value {value}?"})
            return {"value": value, "condition": condition}
        value += 1
        return {"value": value, "condition": value >= 10}

    async def step2_execute(ctx: Any) -> Any:
        calls.hit("step-2", ctx.input_data)
        return {"value": ctx.input_data["value"], "condition": ctx.input_data["condition"]}

    step1 = create_step("step-1", execute=step1_execute, input_schema=LoopInput, resume_schema=Continue)
    step2 = create_step("step-2", execute=step2_execute, input_schema=LoopInput)
    workflow = (
        create_workflow("srb-loop-resume-input-workflow", input_schema=LoopInput)
        .dountil(step1, lambda ctx: ctx.input_data["condition"])
        .then(step2)
        .commit()
    )
    run_id = new_run_id("srb-loop-resume-input")

    started = await harness.execute(workflow, {"value": 0, "condition": False}, run_id=run_id)
    assert started.status == "suspended"

    for expected in (1, 2, 3):
        resumed = await harness.resume(workflow, run_id, {"shouldContinue": True})
        assert resumed.status == "suspended"
        assert resumed.steps["step-1"].payload["value"] == expected
    assert calls["step-2"] == 0


async def test_should_have_access_to_the_correct_input_value_when_resuming_a_step_preceded_by_a_map_step(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #20: should have access to the correct inputValue when resuming a step preceded by a
    .map step."""

    class Input(BaseModel):
        input: str

    class Score(BaseModel):
        score: float

    class Scores(BaseModel):
        toneScore: Score
        completenessScore: Score

    class Improved(BaseModel):
        improvedOutput: str
        overallScore: Scores

    async def get_user_input(ctx: Any) -> Any:
        calls.hit("getUserInput", ctx.input_data)
        return {"userInput": ctx.input_data["input"]}

    async def prompt_agent(ctx: Any) -> Any:
        calls.hit("promptAgent", ctx.input_data)
        if ctx.resume_data is None:
            return await ctx.suspend({"testPayload": "suspend message"})
        return {"modelOutput": ctx.input_data["userInput"] + " " + ctx.resume_data["userInput"]}

    async def evaluate_tone(ctx: Any) -> Any:
        return {"toneScore": {"score": 0.8}, "completenessScore": {"score": 0.7}}

    def average(ctx: Any, name: str) -> float:
        return float((ctx.input_data[name]["score"] + ctx.resume_data[name]["score"]) / 2)

    async def improve_response(ctx: Any) -> Any:
        calls.hit("improveResponse", ctx.input_data)
        if ctx.resume_data is None:
            return await ctx.suspend({})
        return {
            "improvedOutput": "improved output",
            "overallScore": {
                "completenessScore": {"score": average(ctx, "completenessScore")},
                "toneScore": {"score": average(ctx, "toneScore")},
            },
        }

    async def evaluate_improved(ctx: Any) -> Any:
        calls.hit("evaluateImprovedResponse", ctx.input_data)
        return ctx.input_data["overallScore"]

    improve = create_step(
        "improveResponse", execute=improve_response, input_schema=Scores, resume_schema=Scores
    )
    workflow = (
        create_workflow("srb-map-step-resume-workflow", input_schema=Input)
        .then(create_step("getUserInput", execute=get_user_input, input_schema=Input))
        .then(
            create_step("promptAgent", execute=prompt_agent, input_schema=UserInput, resume_schema=UserInput)
        )
        .map(evaluate_tone, id="evaluateToneConsistency")
        .then(improve)
        .then(create_step("evaluateImprovedResponse", execute=evaluate_improved, input_schema=Improved))
        .commit()
    )
    run_id = new_run_id("srb-map-step-resume")

    started = await harness.execute(workflow, {"input": "test"}, run_id=run_id)

    assert started.status == "suspended"
    assert started.steps["promptAgent"].status == "suspended"
    assert started.steps["getUserInput"].status == "success"
    assert started.steps["getUserInput"].output == {"userInput": "test"}

    first = await harness.resume(workflow, run_id, {"userInput": "input for resumption"}, step="promptAgent")

    assert first.status == "suspended"
    assert first.steps["promptAgent"].status == "success"
    assert first.steps["promptAgent"].output == {"modelOutput": "test input for resumption"}
    assert first.steps["evaluateToneConsistency"].status == "success"
    assert first.steps["evaluateToneConsistency"].payload == {"modelOutput": "test input for resumption"}
    assert first.steps["evaluateToneConsistency"].output == {
        "toneScore": {"score": 0.8},
        "completenessScore": {"score": 0.7},
    }
    assert first.steps["improveResponse"].status == "suspended"

    scores = {"toneScore": {"score": 0.9}, "completenessScore": {"score": 0.8}}
    second = await harness.resume(workflow, run_id, scores, step=improve)

    assert second.status == "success"
    improved = second.steps["improveResponse"]
    assert improved.status == "success"
    assert improved.output["improvedOutput"] == "improved output"
    assert improved.output["overallScore"]["toneScore"]["score"] == pytest.approx(0.85, abs=1e-10)
    assert improved.output["overallScore"]["completenessScore"]["score"] == pytest.approx(0.75, abs=1e-10)
    evaluated = second.steps["evaluateImprovedResponse"]
    assert evaluated.status == "success"
    assert evaluated.output["toneScore"]["score"] == pytest.approx(0.85, abs=1e-10)
    assert evaluated.output["completenessScore"]["score"] == pytest.approx(0.75, abs=1e-10)
    assert (calls["getUserInput"], calls["promptAgent"], calls["improveResponse"]) == (1, 2, 2)
