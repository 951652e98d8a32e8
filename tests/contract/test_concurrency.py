"""Concurrency and idempotency (behaviours-default-runtime.md §Y), on every engine."""

from __future__ import annotations

import asyncio
from typing import Any

from workflows_app import create_step, create_workflow, errors

from .conftest import Calls, Harness


def approval_workflow(workflow_id: str, calls: Calls) -> Any:
    async def ask(ctx: Any) -> Any:
        calls.hit("ask")
        if ctx.resume_data is None:
            return await ctx.suspend({"question": "ok?"})
        return {"answer": ctx.resume_data["answer"]}

    async def after(ctx: Any) -> Any:
        calls.hit("after")
        return ctx.input_data

    return (
        create_workflow(workflow_id)
        .then(create_step("ask", execute=ask))
        .then(create_step("after", execute=after))
        .commit()
    )


async def test_two_racing_resumes_one_wins_the_other_gets_a_conflict(harness: Harness, calls: Calls) -> None:
    """Y: two resumes of one suspended step at once: one wins, downstream steps run once."""
    workflow = approval_workflow("cc-racing-resumes", calls)
    started = await harness.execute(workflow, {}, run_id="cc-race")
    assert started.status == "suspended"
    harness.fresh_process()
    first = await workflow.acreate_run(run_id="cc-race", engine=harness.engine)
    second = await workflow.acreate_run(run_id="cc-race", engine=harness.engine)
    outcomes = await asyncio.gather(
        first.aresume({"answer": "yes"}, step="ask"),
        second.aresume({"answer": "no"}, step="ask"),
        return_exceptions=True,
    )
    won = [o for o in outcomes if not isinstance(o, BaseException)]
    lost = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(won) == 1
    assert len(lost) == 1
    assert isinstance(lost[0], errors.ResumeConflictError | errors.RunNotSuspendedError)
    assert won[0].status == "success"
    assert calls["after"] == 1
    assert calls["ask"] == 2


async def test_starting_a_run_id_twice_is_refused(harness: Harness, calls: Calls) -> None:
    """Y: a run id is claimed once; a second start with the same id fails and changes nothing."""
    workflow = approval_workflow("cc-start-twice", calls)
    await harness.execute(workflow, {}, run_id="cc-twice")
    again = await workflow.acreate_run(run_id="cc-twice", engine=harness.engine)
    try:
        await again.astart({})
    except errors.WorkflowError as exc:
        assert "already exists" in str(exc)
    else:
        raise AssertionError("the second start was not refused")
    assert calls["ask"] == 1
