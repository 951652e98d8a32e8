"""onFinish and onError callbacks (spec: callbacks #1-#20, #23-#24).

Mastra's ``onFinish`` / ``onError`` workflow options are our ``on_finish`` /
``on_error`` arguments of ``create_workflow``; each receives one
``CallbackInfo`` (``status``, ``run_id``, ``workflow_id``, ``resource_id``,
``result``, ``error``, ``steps``, ``state``, ``request_context``, ``logger``,
``get_init_data()``). #21-#22 check the ``mastra`` instance handed to the
callbacks: our API has no such application object (workflows are registered
process-wide, storage and engines come from the runtime), so there is nothing
to assert and they are left out.

Async callbacks simulate work with a hop through the default thread pool: a real
suspension point with no timing in it, so an engine that did not await the
callback would return before the flag is set.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from workflows_app import create_step, create_workflow

from .conftest import Harness
from .processes import shared_list


class Recorder:
    """Collects what a callback was called with, the way the spec's mocks do."""

    def __init__(self) -> None:
        self.infos: list[Any] = shared_list()

    def __call__(self, info: Any) -> None:
        self.infos.append(info)

    @property
    def count(self) -> int:
        return len(self.infos)

    @property
    def info(self) -> Any:
        assert self.count == 1, f"called {self.count} times"
        return self.infos[0]


def succeeding(step_id: str = "step1") -> Any:
    return create_step(step_id, execute=lambda ctx: {"result": "success"})


def failing(step_id: str = "failing-step") -> Any:
    def execute(ctx: Any) -> Any:
        raise RuntimeError("Test error")

    return create_step(step_id, execute=execute)


async def some_async_work() -> None:
    """Suspend the calling coroutine a few times on real (thread-pool) work."""
    loop = asyncio.get_running_loop()
    for _ in range(200):
        await loop.run_in_executor(None, lambda: None)


async def test_should_call_onfinish_callback_when_workflow_succeeds(harness: Harness) -> None:
    """callbacks #1: should call onFinish callback when workflow succeeds."""
    on_finish = Recorder()
    workflow = create_workflow("cb-finish-success", on_finish=on_finish).then(succeeding()).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert on_finish.count == 1


async def test_should_call_onerror_callback_when_workflow_fails(harness: Harness) -> None:
    """callbacks #2: should call onError callback when workflow fails."""
    on_error = Recorder()
    workflow = create_workflow("cb-error-failure", on_error=on_error).then(failing()).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    assert on_error.count == 1
    assert on_error.info.error["message"] == "Test error"


async def test_should_pass_workflow_result_to_onfinish_callback(harness: Harness) -> None:
    """callbacks #3: should pass workflow result to onFinish callback."""
    on_finish = Recorder()
    workflow = create_workflow("cb-finish-result", on_finish=on_finish).then(succeeding()).commit()
    await harness.execute(workflow, {})
    info = on_finish.info
    assert info.status == "success"
    assert info.result == {"result": "success"}
    assert info.steps["step1"].output == {"result": "success"}


async def test_should_not_call_onerror_callback_when_workflow_succeeds(harness: Harness) -> None:
    """callbacks #4: should not call onError callback when workflow succeeds."""
    on_error = Recorder()
    workflow = create_workflow("cb-error-not-called", on_error=on_error).then(succeeding()).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert on_error.count == 0


async def test_should_call_both_onfinish_and_onerror_when_workflow_fails(harness: Harness) -> None:
    """callbacks #5: should call both onFinish and onError when workflow fails."""
    on_finish, on_error = Recorder(), Recorder()
    workflow = (
        create_workflow("cb-both-on-failure", on_finish=on_finish, on_error=on_error).then(failing()).commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    assert on_finish.count == 1
    assert on_error.count == 1
    assert on_finish.info.status == "failed"


async def test_should_support_async_onfinish_callback(harness: Harness) -> None:
    """callbacks #6: should support async onFinish callback (awaited before the run returns)."""
    done: list[str] = shared_list()

    async def on_finish(info: Any) -> None:
        await some_async_work()
        done.append(info.status)

    workflow = create_workflow("cb-async-finish", on_finish=on_finish).then(succeeding()).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert done == ["success"]


async def test_should_support_async_onerror_callback(harness: Harness) -> None:
    """callbacks #7: should support async onError callback (awaited before the run returns)."""
    done: list[str] = shared_list()

    async def on_error(info: Any) -> None:
        await some_async_work()
        done.append(info.error["message"])

    workflow = create_workflow("cb-async-error", on_error=on_error).then(failing()).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    assert done == ["Test error"]


async def test_should_provide_runid_in_onfinish_callback(harness: Harness) -> None:
    """callbacks #8: should provide runId in onFinish callback."""
    on_finish = Recorder()
    workflow = create_workflow("cb-finish-runid", on_finish=on_finish).then(succeeding()).commit()
    await harness.execute(workflow, {}, run_id="test-runid-finish")
    assert on_finish.info.run_id == "test-runid-finish"


async def test_should_provide_workflowid_in_onfinish_callback(harness: Harness) -> None:
    """callbacks #9: should provide workflowId in onFinish callback."""
    on_finish = Recorder()
    workflow = create_workflow("cb-finish-workflowid", on_finish=on_finish).then(succeeding()).commit()
    await harness.execute(workflow, {})
    assert on_finish.info.workflow_id == "cb-finish-workflowid"


async def test_should_provide_state_in_onfinish_callback(harness: Harness) -> None:
    """callbacks #10: should provide state in onFinish callback (initial state 0, one increment)."""

    async def increment(ctx: Any) -> Any:
        await ctx.set_state({**ctx.state, "counter": ctx.state["counter"] + 1})
        return {"done": True}

    on_finish = Recorder()
    workflow = (
        create_workflow("cb-finish-state", on_finish=on_finish)
        .then(create_step("increment", execute=increment))
        .commit()
    )
    await harness.execute(workflow, {}, initial_state={"counter": 0})
    assert on_finish.info.state["counter"] == 1


async def test_should_provide_resourceid_in_onfinish_callback_when_provided(harness: Harness) -> None:
    """callbacks #11: should provide resourceId in onFinish callback when provided."""
    on_finish = Recorder()
    workflow = create_workflow("cb-finish-resourceid", on_finish=on_finish).then(succeeding()).commit()
    await harness.execute(workflow, {}, resource_id="resource-finish")
    assert on_finish.info.resource_id == "resource-finish"


async def test_should_provide_runid_in_onerror_callback(harness: Harness) -> None:
    """callbacks #12: should provide runId in onError callback."""
    on_error = Recorder()
    workflow = create_workflow("cb-error-runid", on_error=on_error).then(failing()).commit()
    await harness.execute(workflow, {}, run_id="test-runid-error")
    assert on_error.info.run_id == "test-runid-error"


async def test_should_provide_workflowid_in_onerror_callback(harness: Harness) -> None:
    """callbacks #13: should provide workflowId in onError callback."""
    on_error = Recorder()
    workflow = create_workflow("cb-error-workflowid", on_error=on_error).then(failing()).commit()
    await harness.execute(workflow, {})
    assert on_error.info.workflow_id == "cb-error-workflowid"


async def test_should_call_onfinish_with_suspended_status_when_workflow_suspends(harness: Harness) -> None:
    """callbacks #14: should call onFinish with suspended status when workflow suspends."""

    async def suspend(ctx: Any) -> Any:
        return await ctx.suspend({"reason": "waiting"})

    on_finish, on_error = Recorder(), Recorder()
    workflow = (
        create_workflow("cb-finish-suspended", on_finish=on_finish, on_error=on_error)
        .then(create_step("suspending-step", execute=suspend))
        .commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "suspended"
    assert on_finish.info.status == "suspended"
    assert on_error.count == 0


async def test_should_provide_getinitdata_function_in_onfinish_callback(harness: Harness) -> None:
    """callbacks #15: should provide getInitData function in onFinish callback."""
    on_finish = Recorder()
    workflow = create_workflow("cb-finish-initdata", on_finish=on_finish).then(succeeding()).commit()
    await harness.execute(workflow, {"userId": "user-123"})
    assert on_finish.info.get_init_data() == {"userId": "user-123"}


async def test_should_provide_getinitdata_function_in_onerror_callback(harness: Harness) -> None:
    """callbacks #16: should provide getInitData function in onError callback."""
    on_error = Recorder()
    workflow = create_workflow("cb-error-initdata", on_error=on_error).then(failing()).commit()
    await harness.execute(workflow, {"userId": "user-456"})
    assert on_error.info.get_init_data() == {"userId": "user-456"}


async def test_should_provide_logger_in_onfinish_callback(harness: Harness) -> None:
    """callbacks #17: should provide logger in onFinish callback (with info and error)."""
    on_finish = Recorder()
    workflow = create_workflow("cb-finish-logger", on_finish=on_finish).then(succeeding()).commit()
    await harness.execute(workflow, {})
    log = on_finish.info.logger
    assert isinstance(log, logging.Logger)
    assert callable(log.info)
    assert callable(log.error)


async def test_should_provide_logger_in_onerror_callback(harness: Harness) -> None:
    """callbacks #18: should provide logger in onError callback (with info and error)."""
    on_error = Recorder()
    workflow = create_workflow("cb-error-logger", on_error=on_error).then(failing()).commit()
    await harness.execute(workflow, {})
    log = on_error.info.logger
    assert isinstance(log, logging.Logger)
    assert callable(log.info)
    assert callable(log.error)


async def test_should_provide_requestcontext_in_onfinish_callback(harness: Harness) -> None:
    """callbacks #19: should provide requestContext in onFinish callback (a plain dict is accepted)."""
    on_finish = Recorder()
    workflow = create_workflow("cb-finish-context", on_finish=on_finish).then(succeeding()).commit()
    await harness.execute(workflow, {}, request_context={"customKey": "customValue"})
    assert on_finish.info.request_context.get("customKey") == "customValue"


async def test_should_provide_requestcontext_in_onerror_callback(harness: Harness) -> None:
    """callbacks #20: should provide requestContext in onError callback."""
    on_error = Recorder()
    workflow = create_workflow("cb-error-context", on_error=on_error).then(failing()).commit()
    await harness.execute(workflow, {}, request_context={"errorKey": "errorValue"})
    assert on_error.info.request_context.get("errorKey") == "errorValue"


async def test_should_provide_resourceid_in_onerror_callback_when_provided(harness: Harness) -> None:
    """callbacks #23: should provide resourceId in onError callback when provided."""
    on_error = Recorder()
    workflow = create_workflow("cb-error-resourceid", on_error=on_error).then(failing()).commit()
    await harness.execute(workflow, {}, resource_id="error-resource-456")
    assert on_error.info.resource_id == "error-resource-456"


async def test_should_provide_state_in_onerror_callback(harness: Harness) -> None:
    """callbacks #24: should provide state in onError callback (the state as of the failure)."""

    async def set_counter(ctx: Any) -> Any:
        await ctx.set_state({"counter": 10})
        return {"done": True}

    on_error = Recorder()
    workflow = (
        create_workflow("cb-error-state", on_error=on_error)
        .then(create_step("step1", execute=set_counter))
        .then(failing())
        .commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    assert on_error.info.state["counter"] == 10
