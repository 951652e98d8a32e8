"""Beyond the spec: what a durable run owes its callers (durability issue, items 5 and 6).

Every test runs on both engines, with steps in forked worker processes on the
PostgreSQL + Redis leg.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User

from workflows_app import create_step, create_workflow, errors
from workflows_app.core import runtime
from workflows_app.core.run import acancel_by_id
from workflows_app.testing import awaituntil

from .conftest import ENGINES, Calls, Harness
from .processes import shared_list
from .shapes import returning


# -- a run created with the id of a stored run is that run ----------------------------------------------
async def test_a_run_made_with_a_stored_id_carries_its_status_and_resource(harness: Harness) -> None:
    async def asks(ctx: Any) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({"q": "?"})
        return {"answer": ctx.resume_data["a"]}

    workflow = create_workflow("durable-stored-id").then(create_step("ask", execute=asks)).commit()
    first = await workflow.acreate_run(resource_id="user-7", engine=harness.engine)
    assert (await first.astart({})).status == "suspended"
    harness.fresh_process()

    again = await workflow.acreate_run(run_id=first.run_id, engine=harness.engine)
    assert (again.status, again.resource_id) == ("suspended", "user-7")
    assert (await again.aresume({"a": 1})).result == {"answer": 1}
    with pytest.raises(errors.RunNotSuspendedError, match="This workflow run was not suspended"):
        await again.aresume({"a": 2})
    later = await workflow.acreate_run(run_id=first.run_id, engine=harness.engine)
    assert later.status == "success"
    await later.acancel()  # a finished run stays as it is
    stored = await workflow.aget_run(first.run_id)
    assert stored is not None and stored.status == "success"


async def test_a_run_is_created_and_started_in_one_commit_that_holds_its_owner(harness: Harness) -> None:
    seen: list[str] = shared_list()

    async def waits(ctx: Any) -> Any:
        seen.append("started")
        await ctx.abort_signal
        return {}

    owner = await User.objects.acreate(username="durable-owner")
    workflow = create_workflow("durable-one-commit").then(create_step("waits", execute=waits)).commit()
    run = await workflow.acreate_run(engine=harness.engine, owner=owner.pk)
    await run.aenqueue({})
    await awaituntil(lambda: "started" in seen)
    stored = await runtime.get_storage().aget_run(run.run_id)
    assert stored is not None
    # Version 1: the row was written once, by the commit that created it, started it and owed its step.
    assert (stored.version, stored.status, stored.owner) == (1, "running", owner.pk)
    await run.acancel()


async def test_a_time_travel_resets_the_run_and_owes_its_first_step_in_one_commit(harness: Harness) -> None:
    seen: list[str] = shared_list()

    async def second(ctx: Any) -> Any:
        if not ctx.input_data.get("wait"):
            return {"done": True}
        seen.append("started")
        await ctx.abort_signal
        return {}

    workflow = (
        create_workflow("durable-travel-one-commit")
        .then(create_step("first", execute=lambda ctx: {}))
        .then(create_step("second", execute=second))
        .commit()
    )
    run = await workflow.acreate_run(engine=harness.engine)
    assert (await run.astart({})).status == "success"
    storage = runtime.get_storage()
    before = await storage.aget_run(run.run_id)
    assert before is not None
    harness.fresh_process()
    again = await workflow.acreate_run(run_id=run.run_id, engine=harness.engine)
    travel = asyncio.ensure_future(again.atime_travel("second", input_data={"wait": True}))
    await awaituntil(lambda: "started" in seen or travel.done())
    assert not travel.done(), travel.result()
    stored = await storage.aget_run(run.run_id)
    assert stored is not None
    # One write since the run settled: the commit that reset its state, dropped its old
    # work and owed the target step, whose row a worker then claimed.
    assert (stored.version, stored.generation) == (before.version + 1, before.generation + 1)
    assert (stored.status, stored.result) == ("running", None)
    await again.acancel()
    assert (await travel).status == "canceled"


async def test_on_start_is_called_once_the_start_is_committed(harness: Harness) -> None:
    seen: list[Any] = shared_list()

    async def on_start(info: Any) -> None:
        stored = await runtime.get_storage().aget_run(info.run_id)
        seen.append(None if stored is None else stored.status)

    workflow = (
        create_workflow("durable-on-start", on_start=on_start)
        .then(create_step("s", execute=lambda ctx: {"done": True}))
        .commit()
    )
    run = await workflow.acreate_run(engine=harness.engine)
    assert (await run.astart({})).status == "success"
    assert list(seen) in (["running"], ["success"])  # stored already: never None, never pending


# -- cancel: cooperative first, then hard after a grace period ----------------------------------------------
@pytest.fixture
def short_grace() -> Any:
    saved = runtime.get_engine_options()
    runtime.configure(
        engine_options={name: {**saved.get(name, {}), "cancel_grace_seconds": 0.5} for name in ENGINES}
    )
    runtime.reset_storage()
    yield
    runtime.configure(engine_options=saved)
    runtime.reset_storage()


async def test_a_canceled_step_that_listens_finishes_and_one_that_does_not_is_stopped(
    short_grace: Any, harness: Harness
) -> None:
    seen: list[str] = shared_list()

    async def polite(ctx: Any) -> Any:
        seen.append("polite started")
        await ctx.abort_signal
        await asyncio.sleep(0.05)  # cleaning up after itself, within the grace period
        seen.append("polite finished")
        return {"done": True}

    async def stubborn(ctx: Any) -> Any:
        seen.append("stubborn started")
        try:
            await asyncio.Event().wait()  # never looks at its abort signal
        except asyncio.CancelledError:
            seen.append("stubborn cancelled")
            raise

    after = create_step("after", execute=lambda ctx: {"never": True})
    workflow = (
        create_workflow("durable-cancel-grace")
        .parallel([create_step("polite", execute=polite), create_step("stubborn", execute=stubborn)])
        .then(after)
        .commit()
    )
    run = await workflow.acreate_run(engine=harness.engine)
    await run.aenqueue({})
    await awaituntil(lambda: {"polite started", "stubborn started"} <= set(seen))
    await run.acancel()
    # The abort reaches a step through the cancel broadcast or, if that is lost (a loaded bus),
    # at its worker's next lease renewal, a third of LEASE_SECONDS (10 s) later.
    await awaituntil(lambda: {"polite finished", "stubborn cancelled"} <= set(seen), timeout=30)
    result = await run.aresult()
    assert result.status == "canceled"
    assert result.steps["polite"].status == "canceled"  # what it returned after the cancel is not kept
    assert result.steps["stubborn"].status == "canceled"
    assert "after" not in result.steps


async def test_a_process_without_the_workflow_cancels_its_run_and_the_callbacks_still_run(
    harness: Harness,
) -> None:
    seen: list[str] = shared_list()

    async def listening(ctx: Any) -> Any:
        seen.append("started")
        await ctx.abort_signal
        seen.append("aborted")
        return {"done": True}

    workflow = (
        create_workflow(
            "durable-cancel-elsewhere", on_finish=lambda info: seen.append(f"on_finish {info.status}")
        )
        .then(create_step("listening", execute=listening))
        .commit()
    )
    run = await workflow.acreate_run(engine=harness.engine)
    await run.aenqueue({})
    await awaituntil(lambda: "started" in seen)
    harness.fresh_process()
    registered = runtime.registered_workflows()
    runtime.unregister_workflow(workflow.id)  # as a process that does not serve this workflow
    try:
        with pytest.raises(errors.WorkflowNotFoundError):
            runtime.get_workflow(workflow.id)
        assert await acancel_by_id(run.run_id) == "canceled"
    finally:
        runtime.register_workflow(registered[workflow.id])
    await awaituntil(lambda: "aborted" in seen and "on_finish canceled" in seen, timeout=20)
    result = await run.aresult()
    assert result.status == "canceled"
    assert result.steps["listening"].status == "canceled"
    assert seen.count("on_finish canceled") == 1


# -- values at the boundary -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"tags": {"a", "b"}}, "holds a value of type set at ['tags']"),
        ({"when": object()}, "holds a value of type object at ['when']"),
        ({"x": math.nan}, "holds nan at ['x'], which JSON cannot store"),
        ({"text": "a\x00b"}, "contains a NUL character at ['text']"),
    ],
)
async def test_a_step_output_that_cannot_be_stored_fails_the_step_at_once(
    harness: Harness, calls: Calls, value: Any, message: str
) -> None:
    workflow = (
        create_workflow("durable-unstorable")
        .then(returning(calls, "bad", value))
        .then(returning(calls, "next", {"never": True}))
        .commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    assert result.error is not None
    assert result.error["name"] == "UnsupportedValueError"
    assert result.error["message"].startswith(f"The output of step 'bad' {message}")
    assert calls["bad"] == 1  # refused at once: not retried, not stored as text
    assert calls["next"] == 0


async def test_the_next_step_gets_the_stored_form_of_what_a_step_returned(harness: Harness) -> None:
    received: list[Any] = shared_list()

    async def next_step(ctx: Any) -> Any:
        received.append(ctx.input_data)
        return ctx.input_data

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = create_step("first", execute=lambda ctx: {"pair": (1, 2), "when": when, 3: "three"})
    workflow = (
        create_workflow("durable-stored-form")
        .then(first)
        .then(create_step("next", execute=next_step))
        .commit()
    )
    result = await harness.execute(workflow, {})
    stored = {"pair": [1, 2], "when": "2026-01-02T03:04:05Z", "3": "three"}
    assert list(received) == [stored]
    assert result.steps["first"].output == stored
    assert result.result == stored


async def test_input_too_deep_or_not_json_is_refused_at_once_and_nothing_is_stored(harness: Harness) -> None:
    workflow = (
        create_workflow("durable-refused-input").then(create_step("s", execute=lambda ctx: {})).commit()
    )
    deep: Any = {}
    for _ in range(600):
        deep = {"d": deep}
    for options, error in [
        ({"request_context": deep}, errors.PayloadTooDeepError),
        ({"input_data": {"n": math.inf}}, errors.UnsupportedValueError),
        ({"initial_state": {"s": {1, 2}}}, errors.UnsupportedValueError),
    ]:
        run = await workflow.acreate_run(engine=harness.engine)
        with pytest.raises(error):
            await run.astart(**options)
        assert await workflow.aget_run(run.run_id) is None


async def test_resume_data_too_deep_large_or_not_json_is_refused_and_the_run_stays_suspended(
    harness: Harness,
) -> None:
    async def asks(ctx: Any) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        return {"answer": ctx.resume_data}

    workflow = create_workflow("durable-refused-resume").then(create_step("ask", execute=asks)).commit()
    first = await workflow.acreate_run(engine=harness.engine)
    assert (await first.astart({})).status == "suspended"
    deep: Any = []
    for _ in range(100):
        deep = [deep]
    for data, options, error in [
        (deep, {}, errors.PayloadTooDeepError),
        ("x" * 2_000_000, {}, errors.PayloadTooLargeError),
        ({"v": math.nan}, {}, errors.UnsupportedValueError),
        ({"t": "a\x00b"}, {}, errors.UnsupportedValueError),
        ({"ok": True}, {"request_context": {"c": deep}}, errors.PayloadTooDeepError),
    ]:
        run = await workflow.acreate_run(run_id=first.run_id, engine=harness.engine)
        with pytest.raises(error):
            await run.aresume(data, **options)
        assert (await workflow.acreate_run(run_id=first.run_id, engine=harness.engine)).status == "suspended"
    run = await workflow.acreate_run(run_id=first.run_id, engine=harness.engine)
    assert (await run.aresume({"ok": True})).result == {"answer": {"ok": True}}


# -- set_state: graph order at a join and at a suspend -------------------------------------------------------
@pytest.mark.parametrize("suspends", [False, True])
async def test_state_changes_merge_in_graph_order_whether_or_not_a_branch_suspends(
    harness: Harness, suspends: bool
) -> None:
    async def z(ctx: Any) -> Any:
        await ctx.set_state({"who": "z", "z": True})
        return {}

    async def a(ctx: Any) -> Any:
        if ctx.resume_data is None:
            await ctx.set_state({"who": "a", "a": True})
            if suspends:
                return await ctx.suspend({})
        return {}

    workflow = (
        create_workflow(f"durable-state-order-{suspends}")
        .parallel([create_step("z", execute=z), create_step("a", execute=a)])
        .commit()
    )
    run = await workflow.acreate_run(engine=harness.engine)
    result = await run.astart({}, include_state=True)
    assert result.status == ("suspended" if suspends else "success")
    assert result.state == {"who": "a", "z": True, "a": True}  # a comes after z in the graph


# -- time travel with only input data --------------------------------------------------------------------
async def test_time_travel_with_only_input_data_records_the_step_before_as_its_output(
    harness: Harness, calls: Calls
) -> None:
    step1 = returning(calls, "step1", {"never": True})
    step0 = returning(calls, "step0", {"never": True})

    async def add(ctx: Any) -> Any:
        calls.hit("step2")
        return {"total": ctx.input_data["step1Result"] + 1}

    workflow = (
        create_workflow("durable-travel-input")
        .then(step0)
        .then(step1)
        .then(create_step("step2", execute=add))
        .commit()
    )
    run = await workflow.acreate_run(engine=harness.engine)
    result = await run.atime_travel("step2", input_data={"step1Result": 4})
    assert result.status == "success"
    assert result.result == {"total": 5}
    assert (calls["step0"], calls["step1"], calls["step2"]) == (0, 0, 1)
    assert (result.steps["step1"].status, result.steps["step1"].payload) == ("success", {})
    assert result.steps["step1"].output == {"step1Result": 4}
    assert result.steps["step0"].output == {}
    assert result.input == {}
