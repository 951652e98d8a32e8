"""Suspend and resume, second half (spec: suspend-resume #27-#48).

Nested workflows resumed by every form of target, parallel and branch suspends
resumed one at a time, loops, request context, resume-time errors that must leave
the run resumable, deep nesting, and resume after the definition is rebuilt.
Workflow ids carry the ``srn-`` prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, RootModel

from workflows_app import Step, Workflow, create_step, create_workflow, errors

from .conftest import Calls, Harness
from .processes import shared_list
from .shapes import Divisor, Empty, FinalValue, Multiplier, NewValue, StartValue, UserInput, Value

# -- schemas (field names as in the spec) -------------------------------------------


class NewAndOther(BaseModel):
    newValue: int
    other: int


class MaybeNewAndOther(BaseModel):
    newValue: int | None = None
    other: int | None = None


class Suspect(BaseModel):
    suspect: str


class LoopInput(BaseModel):
    value: int
    condition: bool = False


class ShouldContinue(BaseModel):
    shouldContinue: bool


class IncrementBy(BaseModel):
    amountToIncrementBy: int


class DefaultValue(BaseModel):
    value: int = 21


class Item(BaseModel):
    id: str
    name: str
    type: str


class Items(RootModel[list[Item]]):
    pass


class DateChoice(BaseModel):
    date: datetime


class Processed(BaseModel):
    processed: str
    date: datetime | None = None


class MappedValue(BaseModel):
    mappedValue: int


class Answer(BaseModel):
    answer: str


# -- shared shapes ---------------------------------------------------------------------


def counter_steps(
    calls: Calls, *, label: str | None = None, via_step_results: bool = False
) -> dict[str, Step]:
    """begin / start / other / final / last: ``other`` suspends once; 1 + 26 = 27.

    ``via_step_results``: ``other`` suspends with no payload and ``final`` reads the
    outputs of ``start`` and ``other`` through ``get_step_result`` (the spec's
    sr-suspend-nested-step shape); otherwise ``final`` adds up its own input.
    """

    async def begin(ctx: Any) -> Any:
        calls.hit("begin", ctx.input_data)
        return ctx.input_data

    async def start(ctx: Any) -> Any:
        calls.hit("start", ctx.input_data)
        return {"newValue": (ctx.input_data.get("startValue") or 0) + 1}

    async def other(ctx: Any) -> Any:
        calls.hit("other", ctx.input_data)
        if ctx.resume_data is None:
            if via_step_results:
                await ctx.suspend(label=label)
            else:
                await ctx.suspend({}, label=label)
            return None
        if via_step_results:
            return {"other": 26}
        return {"newValue": ctx.input_data["newValue"], "other": 26}

    async def final(ctx: Any) -> Any:
        calls.hit("final", ctx.input_data)
        if via_step_results:
            start_output = await ctx.get_step_result({"id": "start"}) or {}
            other_output = await ctx.get_step_result({"id": "other"}) or {}
            return {"finalValue": start_output.get("newValue", 0) + other_output.get("other", 0)}
        return {"finalValue": (ctx.input_data["newValue"] or 0) + (ctx.input_data["other"] or 0)}

    async def last(ctx: Any) -> Any:
        calls.hit("last", ctx.input_data)
        return {"success": True}

    return {
        "begin": create_step("begin-step", execute=begin, input_schema=StartValue, output_schema=StartValue),
        "start": create_step("start", execute=start, input_schema=StartValue, output_schema=NewValue),
        "other": create_step("other", execute=other, input_schema=NewValue, output_schema=NewAndOther),
        "final": create_step(
            "final",
            execute=final,
            input_schema=MaybeNewAndOther if via_step_results else NewAndOther,
            output_schema=FinalValue,
        ),
        "last": create_step("last-step", execute=last, input_schema=FinalValue),
    }


def nested_counter_workflow(
    calls: Calls, workflow_id: str, nested_id: str, **options: Any
) -> tuple[Workflow, Workflow, dict[str, Step]]:
    """begin-step -> nested (start -> other -> final) -> last-step, inputs not validated."""
    steps = counter_steps(calls, **options)
    nested = (
        create_workflow(nested_id, input_schema=StartValue, output_schema=FinalValue, validate_inputs=False)
        .then(steps["start"])
        .then(steps["other"])
        .then(steps["final"])
        .commit()
    )
    main = (
        create_workflow(workflow_id, input_schema=StartValue, validate_inputs=False)
        .then(steps["begin"])
        .then(nested)
        .then(steps["last"])
        .commit()
    )
    return main, nested, steps


def assert_suspended_in_nested(calls: Calls, result: Any, nested_id: str) -> None:
    assert result.status == "suspended"
    assert (calls["begin"], calls["start"], calls["other"], calls["final"], calls["last"]) == (1, 1, 1, 0, 0)
    assert result.steps[nested_id].status == "suspended"
    assert "last-step" not in result.steps


def assert_nested_resumed(calls: Calls, result: Any, nested_id: str) -> None:
    assert result.status == "success"
    assert result.steps[nested_id].status == "success"
    assert result.steps[nested_id].output == {"finalValue": 27}  # 1 from start + 26 from other
    assert (calls["start"], calls["other"], calls["final"], calls["last"]) == (1, 2, 1, 1)
    assert result.result == {"success": True}


def suspend_once(calls: Calls, step_id: str, compute: Callable[[Any, Any], Any], **options: Any) -> Step:
    """A step that suspends with ``{}`` until resumed, then returns ``compute(input, resume_data)``."""

    async def execute(ctx: Any) -> Any:
        calls.hit(step_id, ctx.input_data)
        if ctx.resume_data is None:
            await ctx.suspend({})
            return {"result": 0}
        return compute(ctx.input_data, ctx.resume_data)

    return create_step(step_id, execute=execute, **options)


def increment_resume_final(calls: Calls, workflow_id: str, resume_schema: type[BaseModel]) -> Workflow:
    """increment -> resume (suspends while its value is below 10) -> final."""

    async def increment(ctx: Any) -> Any:
        calls.hit("increment", ctx.input_data)
        return {"value": ctx.input_data["value"] + 1}

    async def resume(ctx: Any) -> Any:
        calls.hit("resume", ctx.input_data)
        if ctx.resume_data is None and ctx.input_data["value"] < 10:
            await ctx.suspend({})
            return {"value": 0}
        return {"value": ctx.resume_data["value"] + ctx.input_data["value"]}

    async def final(ctx: Any) -> Any:
        calls.hit("final", ctx.input_data)
        return {"value": ctx.input_data["value"]}

    return (
        create_workflow(workflow_id, input_schema=Value, output_schema=Value)
        .then(create_step("increment", execute=increment, input_schema=Value, output_schema=Value))
        .then(
            create_step(
                "resume", execute=resume, input_schema=Value, output_schema=Value, resume_schema=resume_schema
            )
        )
        .then(create_step("final", execute=final, input_schema=Value, output_schema=Value))
        .commit()
    )


# -- nested workflow targets (#27-#29) ----------------------------------------------------


async def test_should_be_able_to_resume_suspended_nested_workflow_step(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #27: should be able to resume suspended nested workflow step (target: the nested id)."""
    workflow, _, _ = nested_counter_workflow(calls, "srn-nested-resume-workflow", "srn-nested-wf-a")
    started = await harness.execute(workflow, {"startValue": 0})
    assert_suspended_in_nested(calls, started, "srn-nested-wf-a")

    result = await harness.resume(workflow, started.run_id, {"newValue": 0}, step="srn-nested-wf-a")
    assert_nested_resumed(calls, result, "srn-nested-wf-a")


async def test_should_be_able_to_resume_suspended_nested_workflow_step_with_label(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #28: should be able to resume suspended nested workflow step with label."""
    workflow, _, _ = nested_counter_workflow(
        calls, "srn-label-nested-resume-workflow", "srn-label-nested-wf-a", label="nested-custom-label"
    )
    started = await harness.execute(workflow, {"startValue": 0})
    assert_suspended_in_nested(calls, started, "srn-label-nested-wf-a")

    result = await harness.resume(workflow, started.run_id, {"newValue": 0}, label="nested-custom-label")
    assert_nested_resumed(calls, result, "srn-label-nested-wf-a")


async def test_should_handle_consecutive_nested_workflows_with_suspend_resume(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #29: should handle consecutive nested workflows with suspend/resume.

    The first resume names the step by a list of ids, the second by a dotted string.
    """

    def asking(step_id: str, question: str) -> Step:
        async def execute(ctx: Any) -> Any:
            calls.hit(step_id, ctx.input_data)
            if not (ctx.resume_data or {}).get("suspect"):
                await ctx.suspend({"message": question})
                return None
            return {"suspect": ctx.resume_data["suspect"]}

        return create_step(
            step_id, execute=execute, input_schema=Suspect, output_schema=Suspect, resume_schema=Suspect
        )

    sub1 = create_workflow("srn-sub-workflow-1", input_schema=Suspect).then(
        asking("step-1", "What is the suspect?")
    )
    sub2 = create_workflow("srn-sub-workflow-2", input_schema=Suspect)
    sub2.then(asking("step-2", "What is the second suspect?"))
    workflow = (
        create_workflow("srn-consecutive-nested-resume-workflow", input_schema=Suspect, output_schema=Suspect)
        .then(sub1.commit())
        .then(sub2.commit())
        .commit()
    )

    started = await harness.execute(workflow, {"suspect": "initial-suspect"})
    assert started.status == "suspended"
    assert (calls["step-1"], calls["step-2"]) == (1, 0)
    assert started.steps["srn-sub-workflow-1"].status == "suspended"

    first = await harness.resume(
        workflow, started.run_id, {"suspect": "first-suspect"}, step=["srn-sub-workflow-1", "step-1"]
    )
    assert first.status == "suspended"
    assert (calls["step-1"], calls["step-2"]) == (2, 1)
    assert first.steps["srn-sub-workflow-1"].status == "success"
    assert first.steps["srn-sub-workflow-2"].status == "suspended"

    second = await harness.resume(
        workflow, started.run_id, {"suspect": "second-suspect"}, step="srn-sub-workflow-2.step-2"
    )
    assert second.status == "success"
    assert (calls["step-1"], calls["step-2"]) == (2, 2)
    assert second.steps["srn-sub-workflow-1"].status == "success"
    assert second.steps["srn-sub-workflow-2"].status == "success"
    assert second.result == {"suspect": "second-suspect"}


# -- parallel, request context, branching, loops (#30-#34) -------------------------------


async def test_should_remain_suspended_when_only_one_of_multiple_parallel_suspended_steps_is_resumed_6418(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #30: should remain suspended when only one of multiple parallel suspended steps
    is resumed - #6418."""
    step1 = suspend_once(
        calls,
        "parallel-step-1",
        lambda data, resume: {"result": data["value"] * resume["multiplier"]},
        input_schema=Value,
        resume_schema=Multiplier,
    )
    step2 = suspend_once(
        calls,
        "parallel-step-2",
        lambda data, resume: {"result": data["value"] / resume["divisor"]},
        input_schema=Value,
        resume_schema=Divisor,
    )
    workflow = (
        create_workflow("srn-parallel-suspension-6418-workflow", input_schema=Value)
        .parallel([step1, step2])
        .commit()
    )

    started = await harness.execute(workflow, {"value": 100})
    assert started.status == "suspended"
    assert started.suspended == [["parallel-step-1"], ["parallel-step-2"]]

    first = await harness.resume(workflow, started.run_id, {"multiplier": 2}, step="parallel-step-1")
    assert first.status == "suspended"
    assert first.suspended == [["parallel-step-2"]]
    assert first.steps["parallel-step-1"].status == "success"

    second = await harness.resume(workflow, started.run_id, {"divisor": 5}, step="parallel-step-2")
    assert second.status == "success"
    assert second.result == {"parallel-step-1": {"result": 200}, "parallel-step-2": {"result": 20}}
    assert (calls["parallel-step-1"], calls["parallel-step-2"]) == (2, 2)


async def test_should_work_with_request_context_bug_4442(harness: Harness, calls: Calls) -> None:
    """suspend-resume #31: should work with requestContext - bug #4442.

    Values a step puts in the request context before suspending are there after the
    resume, which runs in a fresh process.
    """

    async def get_user_input(ctx: Any) -> Any:
        calls.hit("getUserInput")
        return {"userInput": "test input"}

    async def prompt_agent(ctx: Any) -> Any:
        calls.hit("promptAgent", ctx.input_data)
        responses = list(ctx.request_context.get("responses") or [])
        if ctx.resume_data is None:
            ctx.request_context["responses"] = [*responses, "first message"]
            await ctx.suspend({"testPayload": "hello"})
            return None
        ctx.request_context["responses"] = [*responses, "promptAgentAction"]
        return None

    async def request_context_action(ctx: Any) -> Any:
        calls.hit("requestContextAction", ctx.input_data)
        return ctx.request_context.get("responses")

    class Input(BaseModel):
        input: str

    class ModelOutput(BaseModel):
        modelOutput: str

    workflow = (
        create_workflow("srn-request-context-4442-workflow", input_schema=Input, validate_inputs=False)
        .then(
            create_step("getUserInput", execute=get_user_input, input_schema=Input, output_schema=UserInput)
        )
        .then(
            create_step("promptAgent", execute=prompt_agent, input_schema=UserInput, resume_schema=UserInput)
        )
        .then(create_step("requestContextAction", execute=request_context_action, input_schema=ModelOutput))
        .commit()
    )

    started = await harness.execute(workflow, {"input": "test"})
    assert started.steps["promptAgent"].status == "suspended"
    assert calls["promptAgent"] == 1

    result = await harness.resume(
        workflow, started.run_id, {"userInput": "test input for resumption"}, step="promptAgent"
    )
    assert calls["promptAgent"] == 2
    assert result.steps["requestContextAction"].status == "success"
    assert result.steps["requestContextAction"].output == ["first message", "promptAgentAction"]


async def test_should_maintain_correct_step_status_after_resuming_in_branching_workflows_6419(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #32: should maintain correct step status after resuming in branching workflows
    - #6419."""

    def multiplied(step_id: str) -> Step:
        return suspend_once(
            calls,
            step_id,
            lambda data, resume: {"result": data["value"] * resume["multiplier"]},
            input_schema=Value,
            resume_schema=Multiplier,
        )

    async def always(ctx: Any) -> bool:
        return True

    workflow = (
        create_workflow("srn-branching-state-6419-workflow", input_schema=Value)
        .branch([(always, multiplied("branch-step-1")), (always, multiplied("branch-step-2"))])
        .commit()
    )

    started = await harness.execute(workflow, {"value": 10})
    assert started.status == "suspended"
    assert started.steps["branch-step-1"].status == "suspended"
    assert started.steps["branch-step-2"].status == "suspended"
    assert started.suspended == [["branch-step-1"], ["branch-step-2"]]

    first = await harness.resume(workflow, started.run_id, {"multiplier": 2}, step="branch-step-1")
    assert first.status == "suspended"
    assert first.steps["branch-step-1"].status == "success"
    assert first.steps["branch-step-2"].status == "suspended"
    assert first.suspended == [["branch-step-2"]]

    final = await harness.resume(workflow, started.run_id, {"multiplier": 3}, step="branch-step-2")
    assert final.status == "success"
    assert final.steps["branch-step-1"].status == "success"
    assert final.steps["branch-step-2"].status == "success"
    assert final.result == {"branch-step-1": {"result": 20}, "branch-step-2": {"result": 30}}


async def test_should_have_access_to_the_correct_input_value_when_resuming_in_a_loop_bug_6669(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #33: should have access to the correct input value when resuming in a loop - bug #6669.

    The spec's step also waits 50 ms to simulate work; that wait changes nothing
    here, so it is left out.
    """

    async def step1(ctx: Any) -> Any:
        calls.hit("step-1", ctx.input_data)
        value, condition = ctx.input_data["value"], ctx.input_data["condition"]
        if not (ctx.resume_data or {}).get("shouldContinue"):
            await ctx.suspend({"message": f"Continue with value {value}?"})
            return {"value": value, "condition": condition}
        value += 1
        return {"value": value, "condition": value >= 10}

    async def step2(ctx: Any) -> Any:
        calls.hit("step-2", ctx.input_data)
        return {"value": ctx.input_data["value"], "condition": ctx.input_data["condition"]}

    async def done(ctx: Any) -> bool:
        return bool(ctx.input_data["condition"])

    workflow = (
        create_workflow("srn-loop-input-6669-workflow", input_schema=LoopInput, output_schema=LoopInput)
        .dountil(
            create_step("step-1", execute=step1, input_schema=LoopInput, resume_schema=ShouldContinue), done
        )
        .then(create_step("step-2", execute=step2, input_schema=LoopInput))
        .commit()
    )

    started = await harness.execute(workflow, {"value": 0, "condition": False})
    assert started.status == "suspended"
    for expected in (1, 2, 3):
        resumed = await harness.resume(workflow, started.run_id, {"shouldContinue": True})
        assert resumed.status == "suspended"
        assert resumed.steps["step-1"].payload["value"] == expected
    assert calls["step-2"] == 0


async def test_should_handle_basic_suspend_and_resume_in_nested_dountil_workflow_bug_5650(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #34: should handle basic suspend and resume in nested dountil workflow - bug #5650.

    The spec asserts that Mastra's internal '__mastraWorflowInputData' key never
    shows in the request context; our equivalent: the steps see no key the caller
    did not put there.
    """
    seen: list[tuple[str, Any, dict[str, Any]]] = shared_list()

    async def increment(ctx: Any) -> Any:
        calls.hit("increment", ctx.input_data)
        seen.append(("increment", ctx.get_init_data(), dict(ctx.request_context)))
        amount = (ctx.resume_data or {}).get("amountToIncrementBy")
        if not amount:
            await ctx.suspend({"optionsToIncrementBy": [1, 2, 3]})
            return None
        return {"value": ctx.input_data["value"] + amount}

    async def resume(ctx: Any) -> Any:
        calls.hit("resume", ctx.input_data)
        seen.append(("resume", ctx.get_init_data(), dict(ctx.request_context)))
        return {"value": ctx.input_data["value"]}

    async def final(ctx: Any) -> Any:
        calls.hit("final", ctx.input_data)
        return {"value": ctx.input_data["value"]}

    async def reached_ten(ctx: Any) -> bool:
        return bool(ctx.input_data["value"] >= 10)

    nested = (
        create_workflow("srn-simple-resume-workflow-5650", input_schema=Value, output_schema=Value)
        .then(create_step("increment", execute=increment, input_schema=Value, resume_schema=IncrementBy))
        .then(create_step("resume", execute=resume, input_schema=Value, output_schema=Value))
        .commit()
    )
    workflow = (
        create_workflow("srn-nested-dountil-5650-workflow", input_schema=Value, output_schema=Value)
        .dountil(nested, reached_ten)
        .then(create_step("final", execute=final, input_schema=Value, output_schema=Value))
        .commit()
    )

    started = await harness.execute(workflow, {"value": 2})
    assert started.status == "suspended"
    assert started.steps["srn-simple-resume-workflow-5650"].status == "suspended"

    resumed = await harness.resume(
        workflow,
        started.run_id,
        {"amountToIncrementBy": 2},
        step=["srn-simple-resume-workflow-5650", "increment"],
    )
    # 2 + 2 = 4 < 10: the loop runs the nested workflow again, which suspends in its new iteration
    assert resumed.status == "suspended"
    assert resumed.steps["srn-simple-resume-workflow-5650"].status == "suspended"
    assert resumed.suspended == [["srn-simple-resume-workflow-5650", "increment"]]
    assert [(name, init["value"]) for name, init, _ in seen] == [
        ("increment", 2),
        ("increment", 2),
        ("resume", 2),
        ("increment", 4),
    ]
    assert all(context == {} for _, _, context in seen)

    finished = await harness.resume(
        workflow,
        started.run_id,
        {"amountToIncrementBy": 6},
        step=["srn-simple-resume-workflow-5650", "increment"],
    )
    assert finished.status == "success"
    assert finished.result == {"value": 10}
    assert (calls["increment"], calls["resume"], calls["final"]) == (4, 2, 1)


# -- resume targets and resume data (#35-#37) ---------------------------------------------


async def test_should_auto_resume_without_specifying_step_parameter_when_only_one_step_is_suspended(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #35: should auto-resume without specifying step parameter when only one step
    is suspended."""
    step1 = suspend_once(
        calls,
        "step1",
        lambda data, resume: {"result": data["value"] * resume["multiplier"]},
        input_schema=Value,
        resume_schema=Multiplier,
    )
    workflow = create_workflow("srn-auto-nonstep-workflow", input_schema=Value).then(step1).commit()

    started = await harness.execute(workflow, {"value": 10})
    assert started.status == "suspended"

    result = await harness.resume(workflow, started.run_id, {"multiplier": 5})
    assert result.status == "success"
    assert result.result["result"] == 50


async def test_should_use_resume_schema_defaults_when_resuming_with_empty_data(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #36: should use resumeSchema defaults when resuming with empty data."""
    workflow = increment_resume_final(calls, "srn-schema-defaults-workflow", DefaultValue)

    started = await harness.execute(workflow, {"value": 0})
    assert started.status == "suspended"

    result = await harness.resume(workflow, started.run_id, {}, step="resume")
    assert result.status == "success"
    assert result.result["value"] == 22  # the default 21 + the step's input 1
    assert result.steps["resume"].resume_payload == {"value": 21}


async def test_should_handle_consecutive_parallel_chains_with_merged_outputs(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #37: should handle consecutive parallel chains with merged outputs."""

    class Input(BaseModel):
        input: str

    def step(step_id: str, fn: Callable[[Any], Any]) -> Step:
        async def execute(ctx: Any) -> Any:
            calls.hit(step_id, ctx.input_data)
            return fn(ctx.input_data)

        return create_step(step_id, execute=execute)

    step1 = step("step1", lambda d: {"result1": f"processed-{d['input']}"})
    step2 = step("step2", lambda d: {"result2": f"transformed-{d['input']}"})
    step3 = step("step3", lambda d: {"result3": f"combined-{d['step1']['result1']}-{d['step2']['result2']}"})
    step4 = step("step4", lambda d: {"result4": f"final-{d['step1']['result1']}-{d['step2']['result2']}"})
    workflow = (
        create_workflow("srn-consecutive-parallel-workflow", input_schema=Input)
        .parallel([step1, step2])
        .parallel([step3, step4])
        .commit()
    )

    result = await harness.execute(workflow, {"input": "test"})
    assert result.status == "success"
    assert result.steps["step1"].output["result1"] == "processed-test"
    assert result.steps["step2"].output["result2"] == "transformed-test"
    assert result.steps["step3"].output["result3"] == "combined-processed-test-transformed-test"
    assert result.steps["step4"].output["result4"] == "final-processed-test-transformed-test"
    merged = {"step1": {"result1": "processed-test"}, "step2": {"result2": "transformed-test"}}
    assert calls.inputs["step3"] == [merged]
    assert calls.inputs["step4"] == [merged]


# -- resume errors (#38-#40) ----------------------------------------------------------------


async def test_should_throw_error_when_resuming_a_non_suspended_workflow(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #38: should throw error when resuming a non-suspended workflow."""

    async def increment(ctx: Any) -> Any:
        calls.hit("increment", ctx.input_data)
        return {"value": ctx.input_data["value"] + 1}

    async def final(ctx: Any) -> Any:
        calls.hit("final", ctx.input_data)
        return {"value": ctx.input_data["value"]}

    workflow = (
        create_workflow("srn-not-suspended-workflow", input_schema=Value, output_schema=Value)
        .then(create_step("increment", execute=increment, input_schema=Value))
        .then(create_step("final", execute=final, input_schema=Value))
        .commit()
    )
    started = await harness.execute(workflow, {"value": 0})
    assert started.status == "success"

    with pytest.raises(errors.RunNotSuspendedError, match=r"^This workflow run was not suspended$"):
        await harness.resume(workflow, started.run_id, {"value": 2}, step="increment")

    run = await workflow.acreate_run(run_id=started.run_id, engine=harness.engine)
    after = await run.aresult()
    assert after.status == "success"
    assert after.result == {"value": 1}
    assert (calls["increment"], calls["final"]) == (1, 1)


async def test_should_throw_error_when_resuming_with_invalid_data_then_succeed_with_valid_data(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #39: should throw error when resuming with invalid data then succeed with valid data."""
    workflow = increment_resume_final(calls, "srn-invalid-data-workflow", Value)
    started = await harness.execute(workflow, {"value": 0})
    assert started.status == "suspended"

    with pytest.raises(errors.ResumeDataValidationError) as raised:
        await harness.resume(workflow, started.run_id, {"number": 2}, step="resume")
    assert str(raised.value) == "Invalid resume data: \n- value: Field required"
    assert calls["resume"] == 1

    result = await harness.resume(workflow, started.run_id, {"value": 21}, step="resume")
    assert result.status == "success"
    assert result.result["value"] == 22
    assert (calls["increment"], calls["resume"], calls["final"]) == (1, 2, 1)


async def test_should_throw_error_when_you_try_to_resume_a_workflow_step_that_is_not_suspended(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #40: should throw error when you try to resume a workflow step that is not suspended."""
    workflow = increment_resume_final(calls, "srn-non-suspended-step-workflow", Value)
    started = await harness.execute(workflow, {"value": 0})
    assert started.status == "suspended"

    with pytest.raises(errors.StepNotSuspendedError) as raised:
        await harness.resume(workflow, started.run_id, {"value": 2}, step="increment")
    assert str(raised.value) == (
        'This workflow step "increment" was not suspended. Available suspended steps: [resume]'
    )
    assert (calls["increment"], calls["resume"]) == (1, 1)

    result = await harness.resume(workflow, started.run_id, {"value": 21}, step="resume")
    assert result.status == "success"
    assert result.result["value"] == 22
    assert (calls["increment"], calls["resume"], calls["final"]) == (1, 2, 1)


# -- nested paths, request context, deep nesting (#41-#44) --------------------------------


async def test_should_be_able_to_suspend_nested_workflow_step(harness: Harness, calls: Calls) -> None:
    """suspend-resume #41: should be able to suspend nested workflow step.

    The resume names the step as a list of objects: ``[nested_wf, step]``.
    """
    workflow, nested, steps = nested_counter_workflow(
        calls, "srn-suspend-nested-step-workflow", "srn-nested-wf-suspend-step", via_step_results=True
    )
    started = await harness.execute(workflow, {"startValue": 0})
    assert_suspended_in_nested(calls, started, "srn-nested-wf-suspend-step")

    result = await harness.resume(workflow, started.run_id, {"newValue": 0}, step=[nested, steps["other"]])
    assert_nested_resumed(calls, result, "srn-nested-wf-suspend-step")


async def test_should_be_able_to_resume_suspended_nested_workflow_step_with_only_nested_workflow_step_provided(  # noqa: E501
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #42: should be able to resume suspended nested workflow step with only nested
    workflow step provided."""
    workflow, _, _ = nested_counter_workflow(
        calls, "srn-only-wf-step-workflow", "srn-nested-wf-only-step", via_step_results=True
    )
    started = await harness.execute(workflow, {"startValue": 0})
    assert_suspended_in_nested(calls, started, "srn-nested-wf-only-step")

    result = await harness.resume(workflow, started.run_id, {"newValue": 0}, step="srn-nested-wf-only-step")
    assert_nested_resumed(calls, result, "srn-nested-wf-only-step")


async def test_should_preserve_request_context_in_nested_workflows_after_suspend_resume(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #43: should preserve request context in nested workflows after suspend/resume.

    The spec's step also checks that the Mastra instance is defined; we have no such
    object, so that check has no equivalent.
    """
    seen: list[dict[str, Any]] = shared_list()

    class Setup(BaseModel):
        setup: bool

    class Confirmed(BaseModel):
        confirmed: bool

    class Resumed(BaseModel):
        resumed: bool

    async def setup(ctx: Any) -> Any:
        calls.hit("setup-step")
        ctx.request_context["test-key"] = "test-context-value"
        return {"setup": True}

    async def suspend_step(ctx: Any) -> Any:
        calls.hit("suspend-step", ctx.request_context.get("test-key"))
        if not (ctx.resume_data or {}).get("confirmed"):
            await ctx.suspend({"message": "Workflow suspended for testing"})
            return None
        return {"resumed": True}

    async def verify(ctx: Any) -> Any:
        calls.hit("verify-context-step")
        test_data = ctx.request_context.get("test-key")
        seen.append({"test_data": test_data, "input": ctx.input_data, "init": ctx.get_init_data()})
        return {"success": True, "hasTestData": bool(test_data)}

    nested = (
        create_workflow("srn-nested-wf-after-suspend", input_schema=Resumed)
        .then(create_step("verify-context-step", execute=verify, input_schema=Resumed))
        .commit()
    )
    workflow = (
        create_workflow("srn-request-context-nested-suspend-workflow", input_schema=Empty)
        .then(create_step("setup-step", execute=setup, input_schema=Empty, output_schema=Setup))
        .then(create_step("suspend-step", execute=suspend_step, input_schema=Setup, resume_schema=Confirmed))
        .then(nested)
        .commit()
    )

    started = await harness.execute(workflow, {})
    assert started.status == "suspended"

    result = await harness.resume(workflow, started.run_id, {"confirmed": True}, step="suspend-step")
    assert result.status == "success"
    assert result.result["success"] is True
    assert result.result["hasTestData"] is True
    assert calls.inputs["suspend-step"] == ["test-context-value", "test-context-value"]
    assert seen == [
        {"test_data": "test-context-value", "input": {"resumed": True}, "init": {"resumed": True}}
    ]
    assert calls["setup-step"] == 1


async def test_should_be_able_to_suspend_nested_workflow_step_in_a_nested_workflow_step(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #44: should be able to suspend nested workflow step in a nested workflow step."""
    steps = counter_steps(calls, via_step_results=True)

    async def passthrough(ctx: Any) -> Any:
        calls.hit("passthrough", ctx.input_data)
        return ctx.input_data

    passthrough_step = create_step(
        "passthrough", execute=passthrough, input_schema=StartValue, output_schema=StartValue
    )
    wf_a = (
        create_workflow("srn-deep-nested-wf-a", input_schema=StartValue, validate_inputs=False)
        .then(steps["start"])
        .then(steps["other"])
        .then(steps["final"])
        .commit()
    )
    wf_b = (
        create_workflow("srn-deep-nested-wf-b", input_schema=StartValue, validate_inputs=False)
        .then(passthrough_step)
        .then(wf_a)
        .commit()
    )
    wf_c = (
        create_workflow("srn-deep-nested-wf-c", input_schema=StartValue, validate_inputs=False)
        .then(passthrough_step)
        .then(wf_b)
        .commit()
    )
    workflow = (
        create_workflow("srn-deep-nested-suspend-workflow", input_schema=StartValue, validate_inputs=False)
        .then(steps["begin"])
        .then(wf_c)
        .then(steps["last"])
        .commit()
    )

    started = await harness.execute(workflow, {"startValue": 0})
    assert started.status == "suspended"
    assert calls["passthrough"] == 2
    outer = started.steps["srn-deep-nested-wf-c"]
    assert outer.status == "suspended"
    assert outer.suspend_payload == {
        "__workflow_meta": {"path": ["srn-deep-nested-wf-b", "srn-deep-nested-wf-a", "other"]}
    }
    assert "last-step" not in started.steps
    path = ["srn-deep-nested-wf-c", "srn-deep-nested-wf-b", "srn-deep-nested-wf-a", "other"]
    assert started.suspended[0] == path

    result = await harness.resume(workflow, started.run_id, {"newValue": 0}, step=started.suspended[0])
    assert result.steps["srn-deep-nested-wf-c"].status == "success"
    assert result.steps["srn-deep-nested-wf-c"].output == {"finalValue": 27}
    assert (calls["start"], calls["other"], calls["final"], calls["last"]) == (1, 2, 1, 1)
    assert calls["passthrough"] == 2
    assert result.status == "success"


# -- branches after a nested resume, rebuilt definitions, suspend data (#45-#48) -----------


async def test_should_not_execute_incorrect_branches_after_resuming_from_suspended_nested_workflow(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #45: should not execute incorrect branches after resuming from suspended nested
    workflow.

    The spec resumes with a bare Date (its resumeSchema is z.date()); ours is a
    resume schema with a datetime field, and the datetime must reach the last step
    as a datetime.
    """
    items = [
        {"id": "1", "name": "Item 1", "type": "first"},
        {"id": "2", "name": "Item 2", "type": "second"},
        {"id": "3", "name": "Item 3", "type": "third"},
    ]

    async def fetch_items(ctx: Any) -> Any:
        calls.hit("fetch-items")
        return items

    async def select_item(ctx: Any) -> Any:
        calls.hit("select-item", ctx.input_data)
        if ctx.resume_data is None:
            await ctx.suspend({"message": "Select an item"})
            return None
        return ctx.resume_data

    async def first_item(ctx: Any) -> Any:
        calls.hit("first-item-step", ctx.input_data)
        return {"processed": "first"}

    def dated(step_id: str, processed: str) -> Step:
        async def execute(ctx: Any) -> Any:
            calls.hit(step_id, ctx.input_data)
            if ctx.resume_data is None:
                await ctx.suspend({"message": f"Select date for {processed} item"})
                return None
            return {"processed": processed, "date": ctx.resume_data["date"]}

        return create_step(
            step_id, execute=execute, input_schema=Item, output_schema=Processed, resume_schema=DateChoice
        )

    async def pick_branch(ctx: Any) -> Any:
        for key in ("first-item-step", "srn-second-item-workflow", "third-item-step"):
            if ctx.input_data.get(key):
                return ctx.input_data[key]
        raise ValueError("No valid branch result found")

    async def final_processing(ctx: Any) -> Any:
        calls.hit("final-processing", ctx.input_data)
        return {"result": "processed", "input": ctx.input_data}

    def of_type(kind: str) -> Callable[[Any], bool]:
        return lambda ctx: ctx.input_data["type"] == kind

    second_item_workflow = (
        create_workflow("srn-second-item-workflow", input_schema=Item, output_schema=Processed)
        .then(dated("second-item-date-step", "second"))
        .commit()
    )
    workflow = (
        create_workflow("srn-incorrect-branches-resume-workflow", input_schema=Empty)
        .then(create_step("fetch-items", execute=fetch_items, input_schema=Empty, output_schema=Items))
        .then(create_step("select-item", execute=select_item, input_schema=Items, resume_schema=Item))
        .branch(
            [
                (of_type("first"), create_step("first-item-step", execute=first_item, input_schema=Item)),
                (of_type("second"), second_item_workflow),
                (of_type("third"), dated("third-item-step", "third")),
            ]
        )
        .map(pick_branch)
        .then(create_step("final-processing", execute=final_processing, input_schema=Processed))
        .commit()
    )

    started = await harness.execute(workflow, {})
    assert started.status == "suspended"
    assert calls["select-item"] == 1

    chosen = await harness.resume(
        workflow, started.run_id, {"id": "2", "name": "Item 2", "type": "second"}, step=started.suspended[0]
    )
    assert chosen.status == "suspended"
    assert chosen.suspended == [["srn-second-item-workflow", "second-item-date-step"]]
    assert calls["select-item"] == 2
    assert calls["second-item-date-step"] == 1

    date = datetime(2024, 12, 31, tzinfo=UTC)
    final = await harness.resume(workflow, started.run_id, {"date": date}, step=chosen.suspended[0])
    assert final.status == "success"
    assert calls["second-item-date-step"] == 2
    assert calls["first-item-step"] == 0
    assert calls["third-item-step"] == 0
    assert "first-item-step" not in final.steps
    assert "third-item-step" not in final.steps
    assert final.steps["srn-second-item-workflow"].status == "success"
    assert calls["final-processing"] == 1
    received = calls.inputs["final-processing"][0]
    assert received == {"processed": "second", "date": date}
    assert isinstance(received["date"], datetime)


def map_branch_workflow(calls: Calls, conditions: list[Any]) -> Workflow:
    """The spec's buildWorkflow(): every call makes new objects with the same ids."""

    async def suspending(ctx: Any) -> Any:
        calls.hit("suspending-step", ctx.input_data)
        if ctx.resume_data is None:
            await ctx.suspend({"prompt": "Please provide an answer"})
            return {"result": ""}
        return {"result": f"processed: {ctx.input_data['mappedValue']}, answer: {ctx.resume_data['answer']}"}

    async def fallback(ctx: Any) -> Any:
        calls.hit("fallback-step", ctx.input_data)
        return {"result": f"fallback: {ctx.input_data['mappedValue']}"}

    async def above_ten(ctx: Any) -> bool:
        conditions.append(ctx.input_data)
        return bool(ctx.input_data["mappedValue"] > 10)

    async def at_most_ten(ctx: Any) -> bool:
        conditions.append(ctx.input_data)
        return bool(ctx.input_data["mappedValue"] <= 10)

    nested = (
        create_workflow("srn-nested-wf-with-suspend", input_schema=MappedValue)
        .then(
            create_step("suspending-step", execute=suspending, input_schema=MappedValue, resume_schema=Answer)
        )
        .commit()
    )
    return (
        create_workflow("srn-map-branch-suspend-workflow", input_schema=Value)
        .map(lambda ctx: {"mappedValue": ctx.input_data["value"] * 2})
        .branch(
            [
                (above_ten, nested),
                (at_most_ten, create_step("fallback-step", execute=fallback, input_schema=MappedValue)),
            ]
        )
        .commit()
    )


async def test_should_pass_correct_input_data_to_branch_condition_when_resuming_after_map(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #46: should pass correct inputData to branch condition when resuming after map.

    The definition is built a second time before the resume, as after a server
    restart; the generated id of the map step is the same both times.
    """
    conditions: list[Any] = shared_list()
    workflow = map_branch_workflow(calls, conditions)

    started = await harness.execute(workflow, {"value": 10})
    assert started.status == "suspended"
    assert {"mappedValue": 20} in conditions
    conditions.clear()

    rebuilt = map_branch_workflow(calls, conditions)
    assert [s for s in rebuilt.steps if s.startswith("mapping_")] == [
        s for s in workflow.steps if s.startswith("mapping_")
    ]
    result = await harness.resume(rebuilt, started.run_id, {"answer": "hello"}, step=started.suspended[0])
    assert conditions == []  # branch conditions are not evaluated again on resume
    assert result.status == "success"
    assert result.steps["srn-nested-wf-with-suspend"].status == "success"
    assert result.result == {"srn-nested-wf-with-suspend": {"result": "processed: 20, answer: hello"}}
    assert (calls["suspending-step"], calls["fallback-step"]) == (2, 0)


async def test_should_provide_access_to_suspend_data_in_workflow_step_on_resume(harness: Harness) -> None:
    """suspend-resume #47: should provide access to suspendData in workflow step on resume."""

    class Input(BaseModel):
        value: str

    class Confirm(BaseModel):
        confirm: bool

    class Suspension(BaseModel):
        reason: str
        originalValue: str

    async def execute(ctx: Any) -> Any:
        if not (ctx.resume_data or {}).get("confirm"):
            await ctx.suspend(
                {"reason": "User confirmation required", "originalValue": ctx.input_data["value"]}
            )
            return None
        suspend_reason = (ctx.suspend_data or {}).get("reason") or "Unknown"
        original_value = (ctx.suspend_data or {}).get("originalValue") or "Unknown"
        return {
            "result": f"Processed {original_value} after {suspend_reason}",
            "wasResumed": True,
            "suspendReason": suspend_reason,
        }

    access_step = create_step(
        "suspend-data-access-test",
        execute=execute,
        input_schema=Input,
        resume_schema=Confirm,
        suspend_schema=Suspension,
    )
    workflow = (
        create_workflow("srn-suspend-data-access-workflow", input_schema=Input).then(access_step).commit()
    )

    started = await harness.execute(workflow, {"value": "test-value"})
    assert started.status == "suspended"

    result = await harness.resume(workflow, started.run_id, {"confirm": True}, step=access_step)
    assert result.status == "success"
    assert result.result["suspendReason"] == "User confirmation required"
    assert result.result["result"] == "Processed test-value after User confirmation required"
    assert result.result["wasResumed"] is True


async def test_should_not_duplicate_step_ids_in_step_execution_path_after_suspend_resume(
    harness: Harness, calls: Calls
) -> None:
    """suspend-resume #48: should not duplicate step IDs in stepExecutionPath after suspend/resume.

    We do not expose stepExecutionPath. Its equivalent: across the start and the
    resume streams, each step reports one result, in order, and step1 is not run
    again by the resume.
    """

    async def step1(ctx: Any) -> Any:
        calls.hit("step1")
        return {"value": "step1-done"}

    async def step2(ctx: Any) -> Any:
        calls.hit("step2")
        if ctx.resume_data is None:
            await ctx.suspend({"reason": "waiting for user input"})
            return None
        return {"result": "completed", "userInput": ctx.resume_data.get("userInput") or "default"}

    workflow = (
        create_workflow("srn-step-execution-path-workflow")
        .then(create_step("step1", execute=step1))
        .then(create_step("step2", execute=step2, resume_schema=UserInput))
        .commit()
    )

    start_events, started = await harness.stream(workflow, {})
    assert started.status == "suspended"
    resume_events, result = await harness.resume_stream(
        workflow, started.run_id, {"userInput": "test"}, step="step2"
    )
    assert result.status == "success"

    finished = [
        e["payload"]["id"] for e in start_events + resume_events if e["type"] == "workflow-step-result"
    ]
    assert finished == ["step1", "step2"]
    assert (calls["step1"], calls["step2"]) == (1, 2)
    assert [key for key in result.steps if key != "input"] == ["step1", "step2"]
    assert result.steps["step2"].output == {"result": "completed", "userInput": "test"}
