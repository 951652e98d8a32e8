"""The workflow's own callbacks: ``on_start``, ``on_finish`` and ``on_error``.

Engines call these when a run starts and when it settles, whichever process that
happens in, and wait for async callbacks before the run is reported settled. A
failing callback is logged and never changes the run's outcome.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .context import RequestContext

if TYPE_CHECKING:
    from .graph import WorkflowDefinition
    from .results import WorkflowResult
    from .storage import RunRecord

logger = logging.getLogger(__name__)


@dataclass
class CallbackInfo:
    """What a lifecycle callback receives."""

    run_id: str
    workflow_id: str
    resource_id: str | None
    status: str
    input: Any = None
    result: Any = None
    error: Any = None
    steps: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    request_context: RequestContext = field(default_factory=RequestContext)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("workflows_app.runs"))

    def get_init_data(self) -> Any:
        return self.input


async def _call(callback: Any, info: CallbackInfo) -> None:
    try:
        outcome = callback(info)
        if inspect.isawaitable(outcome):
            await outcome
    except Exception:
        logger.exception("Workflow callback %r failed for run %s", callback, info.run_id)


async def astarted(workflow: WorkflowDefinition, run: RunRecord) -> None:
    if workflow.on_start is not None:
        await _call(workflow.on_start, _info(run, run.status))


async def asettled(workflow: WorkflowDefinition, run: RunRecord, result: WorkflowResult) -> None:
    """Tell the workflow its run settled: ``on_finish`` always, ``on_error`` on failure."""
    info = _info(run, result.status, result)
    if workflow.on_finish is not None:
        await _call(workflow.on_finish, info)
    if result.status == "failed" and workflow.on_error is not None:
        await _call(workflow.on_error, info)


def _info(run: RunRecord, status: str, result: WorkflowResult | None = None) -> CallbackInfo:
    return CallbackInfo(
        run_id=run.run_id,
        workflow_id=run.workflow_id,
        resource_id=run.resource_id,
        status=status,
        input=run.input,
        result=result.result if result else None,
        error=result.error if result else None,
        steps=result.steps if result else {},
        state=dict(run.state),
        request_context=RequestContext(run.request_context),
    )
