"""Error handling and error serialisation (spec: error-handling #1-#12).

A step that raises fails itself and the run. In the process that ran it, the
step's ``error`` is the exception object itself (identity and attributes kept);
the run's ``error`` and everything persisted are plain dicts (``name``,
``message``, public attributes, ``cause``) with no traceback. Python attribute
names stand in for the spec's camelCase ones (``status_code`` for
``statusCode``) and ``name`` is the exception's class name (``Exception`` for
the spec's ``Error``). Workflow ids carry the ``err-`` prefix.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest

from workflows_app import Step, create_step, create_workflow, errors
from workflows_app.core import runtime

from .conftest import Calls, Harness
from .shapes import returning


def raising(calls: Calls, step_id: str, error: BaseException) -> Step:
    """A step that records its call and raises ``error``."""

    async def execute(ctx: Any) -> Any:
        calls.hit(step_id, ctx.input_data)
        raise error

    return create_step(step_id, execute=execute)


def with_attributes(message: str, **attributes: Any) -> Exception:
    """A plain exception carrying extra fields, like an HTTP client's error."""
    error = Exception(message)
    for name, value in attributes.items():
        setattr(error, name, value)
    return error


def assert_timed(record: Any) -> None:
    assert isinstance(record.started_at, int)
    assert isinstance(record.ended_at, int)


def assert_no_traceback(stored: Any) -> None:
    """A persisted error is plain JSON data that says nothing of the stack."""
    dumped = json.dumps(stored)
    assert "stack" not in dumped
    assert "traceback" not in dumped.lower()


async def test_should_handle_step_execution_errors(harness: Harness, calls: Calls) -> None:
    """error-handling #1: should handle step execution errors."""
    error = Exception("Step execution failed")
    workflow = create_workflow("err-step-error").then(raising(calls, "step1", error)).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    assert isinstance(result.error, dict)
    assert "Step execution failed" in result.error["message"]
    assert result.steps["input"] == {}
    step1 = result.steps["step1"]
    assert (step1.status, step1.payload) == ("failed", {})
    assert_timed(step1)
    assert isinstance(step1.error, Exception)
    assert "Step execution failed" in str(step1.error)


async def test_should_handle_variable_resolution_errors(harness: Harness, calls: Calls) -> None:
    """error-handling #2: should handle variable resolution errors (the happy path of an object map)."""
    step1 = returning(calls, "step1", {"data": "success"})
    step2 = returning(calls, "step2", None)
    workflow = (
        create_workflow("err-variable-resolution")
        .then(step1)
        .map({"data": {"step": step1, "path": "data"}})
        .then(step2)
        .commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    first = result.steps["step1"]
    assert (first.status, first.output, first.payload) == ("success", {"data": "success"}, {})
    assert_timed(first)
    second = result.steps["step2"]
    assert (second.status, second.payload, second.output) == ("success", {"data": "success"}, None)
    assert_timed(second)
    assert calls.inputs["step2"] == [{"data": "success"}]


async def test_should_handle_step_execution_errors_within_parallel_branches(
    harness: Harness, calls: Calls
) -> None:
    """error-handling #3: should handle step execution errors within parallel branches."""
    step1 = returning(calls, "step1", {})
    step2 = raising(calls, "step2", Exception("Step execution failed"))
    step3 = returning(calls, "step3", {})
    workflow = create_workflow("err-parallel-error").parallel([step1, step2]).then(step3).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    ok, failed = result.steps["step1"], result.steps["step2"]
    assert (ok.status, ok.payload) == ("success", {})
    assert_timed(ok)
    assert (failed.status, failed.payload) == ("failed", {})
    assert_timed(failed)
    assert isinstance(failed.error, Exception)
    assert "Step execution failed" in str(failed.error)
    assert calls["step3"] == 0
    assert "step3" not in result.steps


async def test_should_preserve_custom_error_properties_when_step_throws_error_with_extra_fields(
    harness: Harness, calls: Calls
) -> None:
    """error-handling #4: should preserve custom error properties when step throws error with extra fields."""
    error = with_attributes(
        "API rate limit exceeded",
        status_code=429,
        response_headers={"retry-after": "60"},
        is_retryable=True,
    )
    workflow = create_workflow("err-custom-props").then(raising(calls, "step1", error)).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    step1 = result.steps["step1"]
    assert step1.status == "failed"
    harness.assert_raised(step1.error, error)
    assert step1.error.status_code == 429
    assert step1.error.response_headers == {"retry-after": "60"}
    assert step1.error.is_retryable is True
    assert result.error == {
        "name": "Exception",
        "message": "API rate limit exceeded",
        "status_code": 429,
        "response_headers": {"retry-after": "60"},
        "is_retryable": True,
    }


async def test_should_propagate_step_error_to_workflow_level_error(harness: Harness, calls: Calls) -> None:
    """error-handling #5: should propagate step error to workflow-level error."""
    error = with_attributes(
        "Step failed with details", code="STEP_FAILURE", details={"reason": "something went wrong"}
    )
    workflow = create_workflow("err-propagate").then(raising(calls, "failing-step", error)).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    failing = result.steps["failing-step"]
    assert failing.status == "failed"
    assert isinstance(failing.error, Exception)
    assert result.error is not None
    assert result.error["message"] == "Step failed with details"
    assert result.error["code"] == "STEP_FAILURE"
    assert result.error["details"] == {"reason": "something went wrong"}


async def test_should_handle_step_execution_errors_within_nested_workflows(
    harness: Harness, calls: Calls
) -> None:
    """error-handling #6: should handle step execution errors within nested workflows."""
    inner = (
        create_workflow("err-nested-inner-workflow")
        .parallel(
            [returning(calls, "step1", {}), raising(calls, "step2", Exception("Step execution failed"))]
        )
        .then(returning(calls, "step3", {}))
        .commit()
    )
    workflow = create_workflow("err-nested-main-workflow").then(inner).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    nested = result.steps["err-nested-inner-workflow"]
    assert (nested.status, nested.payload) == ("failed", {})
    assert_timed(nested)
    assert isinstance(nested.error, Exception)
    assert "Step execution failed" in str(nested.error)
    assert calls["step3"] == 0


async def test_should_preserve_error_cause_chain_in_result_error(harness: Harness, calls: Calls) -> None:
    """error-handling #7: should preserve error.cause chain in result.error (``__cause__`` in Python)."""
    network = Exception("Network connection refused")
    http = Exception("HTTP request failed")
    http.__cause__ = network
    error = with_attributes("API call failed", status_code=500, is_retryable=True)
    error.__cause__ = http
    workflow = create_workflow("err-cause-chain").then(raising(calls, "failing-step", error)).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "failed"
    failing = result.steps["failing-step"].error
    assert isinstance(failing, Exception)
    assert str(failing) == "API call failed"
    assert (failing.status_code, failing.is_retryable) == (500, True)
    assert str(failing.__cause__) == "HTTP request failed"
    assert str(failing.__cause__.__cause__) == "Network connection refused"
    assert result.error is not None
    assert result.error["cause"]["message"] == "HTTP request failed"
    assert result.error["cause"]["cause"]["message"] == "Network connection refused"


async def test_should_load_serialized_error_from_storage_via_get_workflow_run_by_id(
    harness: Harness, calls: Calls
) -> None:
    """error-handling #8: should load serialized error from storage via getWorkflowRunById (``aget_run``)."""
    error = with_attributes("Test error for storage round-trip", status_code=500, error_code="INTERNAL_ERROR")
    workflow = create_workflow("err-storage-roundtrip").then(raising(calls, "failing-step", error)).commit()
    run_id = f"err-storage-roundtrip-{uuid.uuid4().hex[:12]}"
    result = await harness.execute(workflow, {}, run_id=run_id)
    assert result.status == "failed"
    harness.fresh_process()
    stored = await workflow.aget_run(run_id)
    assert stored is not None
    assert stored.status == "failed"
    failing = stored.steps["failing-step"]
    assert failing["status"] == "failed"
    assert failing["error"] == {
        "name": "Exception",
        "message": "Test error for storage round-trip",
        "status_code": 500,
        "error_code": "INTERNAL_ERROR",
    }
    assert_no_traceback(failing["error"])


async def persisted_failure(harness: Harness, run_id: str, path: str) -> tuple[Any, Any]:
    """The run row and the failed step row as another process reads them from storage."""
    harness.fresh_process()
    storage = runtime.get_storage()
    record = await storage.aget_run(run_id)
    rows = [row for row in await storage.aget_steps(run_id) if row.path == path]
    assert record is not None
    assert rows
    return record, rows[-1]


async def test_should_persist_error_message_without_stack_trace_in_snapshot(
    harness: Harness, calls: Calls
) -> None:
    """error-handling #9: should persist error message without stack trace in snapshot.

    Our snapshot is the run row plus the step rows; both are read back directly
    from storage (on both engines: they share the storage).
    """
    error = Exception("Test error: step execution failed.")
    workflow = create_workflow("err-persist-no-stack").then(raising(calls, "step1", error)).commit()
    run_id = f"err-persist-no-stack-{uuid.uuid4().hex[:12]}"
    result = await harness.execute(workflow, {}, run_id=run_id)
    assert result.status == "failed"
    record, step1 = await persisted_failure(harness, run_id, "step1")
    assert record.status == "failed"
    assert step1.status == "failed"
    assert step1.error["message"] == "Test error: step execution failed."
    assert record.error["message"] == "Test error: step execution failed."
    assert_no_traceback(step1.error)
    assert_no_traceback(record.error)


async def test_should_persist_workflow_error_message_without_stack_trace_in_snapshot(
    harness: Harness, calls: Calls
) -> None:
    """error-handling #10: should persist MastraError message without stack trace in snapshot.

    The library's own error class here is ``errors.WorkflowError``; its details
    are kept with the message.
    """
    error = errors.WorkflowError("Step execution failed.", field="test")
    workflow = create_workflow("err-persist-library-error").then(raising(calls, "step1", error)).commit()
    run_id = f"err-persist-library-error-{uuid.uuid4().hex[:12]}"
    result = await harness.execute(workflow, {}, run_id=run_id)
    assert result.status == "failed"
    record, step1 = await persisted_failure(harness, run_id, "step1")
    assert record.status == "failed"
    assert step1.status == "failed"
    assert step1.error == {
        "name": "WorkflowError",
        "message": "Step execution failed.",
        "details": {"field": "test"},
    }
    assert record.error == step1.error
    assert_no_traceback(step1.error)


async def test_should_log_step_execution_errors_via_the_logger(
    harness: Harness, calls: Calls, caplog: pytest.LogCaptureFixture
) -> None:
    """error-handling #11: should log step execution errors via the Mastra logger (Python's ``logging``)."""
    workflow = (
        create_workflow("err-logger")
        .then(raising(calls, "failing-step", Exception("Step execution failed")))
        .commit()
    )
    with caplog.at_level(logging.ERROR, logger="workflows_app"):
        result = await harness.execute(workflow, {})
    assert result.status == "failed"
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR and "failing-step" in r.getMessage()]
    assert logged
    assert logged[0].name.startswith("workflows_app")


async def test_should_return_empty_result_when_the_workflow_is_not_registered(harness: Harness) -> None:
    """error-handling #12: should return empty result when mastra is not initialized.

    The Python counterpart of a workflow no Mastra knows is a draft that was
    never committed (so never registered): listing its runs finds none, even
    while storage holds runs of other workflows.
    """
    other = create_workflow("err-registered").then(create_step("step1", execute=lambda ctx: {})).commit()
    assert (await harness.execute(other, {})).status == "success"
    draft = create_workflow("err-never-registered").then(create_step("step1", execute=lambda ctx: {}))
    listed = await draft.alist_runs()
    assert (listed.runs, listed.total) == ([], 0)
