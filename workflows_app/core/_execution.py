"""Running one task's user code and describing what happened as an outcome.

Both engines call :func:`run_task`; the outcome it returns is the ``task-done``
event ``plan`` decides on. Outcomes are JSON-able except for ``exception``, the
live error object an in-process caller may keep for identity.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import log_context
from .context import AbortSignal, RequestContext, StepContext, StepEnvironment
from .errors import (
    PayloadError,
    StepInputValidationError,
    StepTimeoutError,
    TripwireError,
    ValidationError,
    serialize_error,
)
from .graph import BranchEntry, LoopEntry, SleepEntry, expect, sleep_value
from .payloads import plain
from .plan import context_delta, task_component
from .retry import policy_of
from .validation import validate

if TYPE_CHECKING:
    from .graph import WorkflowDefinition

logger = logging.getLogger(__name__)


@dataclass
class TaskScope:
    """What a task needs to know about its run, read before it starts."""

    run_id: str
    workflow_id: str
    resource_id: str | None
    state: dict[str, Any]
    request_context: RequestContext
    abort_signal: AbortSignal = field(default_factory=AbortSignal)
    run_input: Any = None  # the root frame's input, kept on the run row

    @classmethod
    def of(
        cls,
        run_state: dict[str, Any],
        *,
        run_id: str,
        workflow_id: str,
        resource_id: str | None,
        run_input: Any = None,
    ) -> TaskScope:
        """A task's own copies of the run's state and request context, taken when it starts."""
        return cls(
            run_id=run_id,
            workflow_id=workflow_id,
            resource_id=resource_id,
            state=copy.deepcopy(run_state["state"]),
            request_context=RequestContext(copy.deepcopy(run_state.get("context") or {})),
            run_input=run_input,
        )


async def run_task(
    workflow: WorkflowDefinition,
    run_state: dict[str, Any],
    task: dict[str, Any],
    scope: TaskScope,
    env: StepEnvironment,
) -> dict[str, Any]:
    """Run the user code behind ``task`` and return its outcome.

    Whatever it logs meanwhile carries the run id and the step path (``log_context``).
    """
    token = log_context.running.set((scope.run_id, str(task.get("path") or task["kind"])))
    try:
        return await _run_task(workflow, run_state, task, scope, env)
    finally:
        log_context.running.reset(token)


async def _run_task(
    workflow: WorkflowDefinition,
    run_state: dict[str, Any],
    task: dict[str, Any],
    scope: TaskScope,
    env: StepEnvironment,
) -> dict[str, Any]:
    frame = run_state["frames"][task["frame"]]
    level = workflow.nested_workflows()[frame["wf"]]
    entry = level.entries[task["entry"]]
    ctx = StepContext(
        input_data=task["input"],
        run_id=scope.run_id,
        workflow_id=scope.workflow_id,
        env=env,
        scope=frame["scope"],
        state=scope.state,
        resource_id=scope.resource_id,
        request_context=scope.request_context,
        abort_signal=scope.abort_signal,
        init_data=frame.get("input", scope.run_input),
        step_ids=level.steps.keys(),
    )
    before = copy.deepcopy(scope.request_context.to_dict())
    step = task_component(workflow.nested_workflows(), run_state, task) if task["kind"] == "step" else None
    policy = policy_of(getattr(step, "retries", None), level.retry_config)
    try:
        if step is None:
            return await _run_helper(entry, task, ctx)
        outcome = await _run_step(step, task, ctx, validate_input=level.validate_inputs)
        after = plain(scope.request_context.to_dict(), what=f"the request context set by step {step.id!r}")
        outcome["context_delta"] = context_delta(before, after)
        return outcome
    except TripwireError as exc:  # a processor stopped the step: the run ends as a tripwire, not a failure
        return {
            "status": "tripwire",
            "tripwire": exc.to_dict(),
            "error": serialize_error(exc),
            "exception": exc,
            "usage": ctx.requests.usage,
        }
    except Exception as exc:  # the user's error becomes the step's failure
        where = task.get("path", task["kind"])
        logger.exception("Error executing step %s of run %s (%s)", where, scope.run_id, scope.workflow_id)
        return _failed(exc, retryable=policy.retryable(exc), usage=ctx.requests.usage)


def _failed(exc: Exception, *, retryable: bool, usage: Any) -> dict[str, Any]:
    """The outcome of an attempt that raised: its policy decided whether another may follow."""
    return {
        "status": "failed",
        "error": serialize_error(exc),
        "exception": exc,
        "non_retryable": not retryable,
        "usage": usage,  # tokens a failed attempt spent were spent all the same
    }


async def _run_step(
    step: Any, task: dict[str, Any], ctx: StepContext, *, validate_input: bool
) -> dict[str, Any]:
    schema = step.input_schema if validate_input else None  # validate_inputs=False: steps take what they get
    try:
        payload = validate(schema, task["input"], StepInputValidationError)
    except ValidationError as exc:
        return {"status": "failed", "error": serialize_error(exc), "exception": exc, "non_retryable": True}
    ctx.input_data = payload
    ctx.step_id = step.id
    ctx.resume_data = task.get("resume")
    ctx.timed_out = bool(task.get("timed_out"))
    ctx.suspend_data = task.get("suspend_payload")
    ctx.retry_count = task["attempt"]
    ctx.run_count = task.get("run_count", 0)
    ctx.iteration_count = task.get("iter", 0)
    returned = await _call_within(step.execute, ctx, step.timeout)
    try:
        return _step_outcome(ctx, step.id, payload, returned)
    except PayloadError as exc:  # what the step gave cannot be stored: fail now, not at the commit
        return {"status": "failed", "error": serialize_error(exc), "exception": exc, "non_retryable": True}


def _step_outcome(ctx: StepContext, step_id: str, payload: Any, returned: Any) -> dict[str, Any]:
    """What the step did, every value in the JSON form it is stored in (and the next step gets)."""
    requests = ctx.requests

    def stored(value: Any, what: str) -> Any:
        return plain(value, what=f"{what} of step {step_id!r}", limited=False)

    output = stored(returned, "the output")
    outcome: dict[str, Any] = {
        "payload": stored(payload, "the input"),
        "state_delta": stored(requests.state_delta, "the state set by"),
    }
    if requests.usage:
        outcome["usage"] = requests.usage
    if requests.aborted:
        outcome.update(status="aborted", output=output)
    elif requests.bailed:
        outcome.update(status="bailed", output=stored(requests.bail_value, "the bail value"))
    elif requests.suspended:
        outcome.update(status="suspended", label=requests.label, output=output)
        if requests.wait is not None:
            outcome["wait"] = requests.wait
        if requests.timeout_ms is not None:
            outcome["timeout_ms"] = requests.timeout_ms
        if requests.has_suspend_payload:
            outcome["suspend_payload"] = stored(requests.suspend_payload, "the suspend payload")
    else:
        outcome.update(status="success", output=output)
    return outcome


async def _run_helper(entry: Any, task: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    kind = task["kind"]
    if kind == "conditions":
        values = [bool(await _call(cond, ctx)) for cond, _ in expect(entry, BranchEntry).branches]
        return {"status": "success", "output": values}
    if kind == "loop-condition":
        ctx.iteration_count = task["iteration"]
        return {"status": "success", "output": bool(await _call(expect(entry, LoopEntry).condition, ctx))}
    sleep = expect(entry, SleepEntry)
    spec = sleep.until if sleep.until is not None else sleep.duration
    if not callable(spec):
        raise TypeError(f"Sleep {sleep.id!r} has no function to call")
    return {"status": "success", "output": sleep_value(await _call(spec, ctx))}


async def _call_within(fn: Callable[[StepContext], Any], ctx: StepContext, timeout: float | None) -> Any:
    """Call a step's ``execute``; past ``timeout`` seconds, abort it and raise StepTimeoutError.

    The step first sees its abort signal, then is cancelled: the attempt is over
    either way, and its retry policy decides whether another one runs. A step
    that blocks the event loop (sync code) cannot be interrupted; its timeout is
    noticed when it returns.
    """
    if timeout is None:
        return await _call(fn, ctx)
    call = asyncio.ensure_future(_call(fn, ctx))
    try:
        done, _ = await asyncio.wait({call}, timeout=timeout)
    finally:
        if not call.done():
            ctx.abort_signal.set()
            call.cancel()
            await asyncio.wait({call})  # let it unwind; what it raised is not its outcome
            if not call.cancelled():
                call.exception()
    if call in done:
        return call.result()
    raise StepTimeoutError(f"Step {ctx.step_id!r} timed out after {timeout:g} s")


async def _call(fn: Callable[[StepContext], Any], ctx: StepContext) -> Any:
    result = fn(ctx)
    if inspect.isawaitable(result):
        result = await result
    return result
