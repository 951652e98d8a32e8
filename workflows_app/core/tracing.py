"""OpenTelemetry spans for runs and steps, with the ``otel`` extra (docs/observability.md).

Nothing here imports OpenTelemetry before a run is started or a step runs, and
when it cannot be imported every function does nothing: no cost and no change
of behaviour without it. With it, the trace context of the code that starts a
run (the W3C ``traceparent`` and ``tracestate`` of the current span, say a
Django request's) is stored with the run, so every span of the run, in whatever
worker and however much later, joins that trace:

- ``workflow.step <path>``, one per execution of a step (each retry and each
  resume is one), a child of the starting context, and the current span while
  the step runs, so the spans the step's own code makes nest under it;
- ``workflow.run <workflow id>``, from the run's creation to its end, made by
  the process whose commit ended it (a run's life spans processes);
- ``workflow.start <workflow id>``, only for a run started outside any trace:
  the root of a trace of its own.

Without a tracer provider configured, OpenTelemetry's own no-op tracer makes
these spans cost next to nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .storage import RunRecord

TRACER = "workflows_app"
_FIELDS = ("traceparent", "tracestate")


@cache
def _otel() -> Any | None:
    """The OpenTelemetry API and W3C propagator, imported on first need; ``None`` without them."""
    try:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError:
        return None
    return trace, TraceContextTextMapPropagator()


def start_context(workflow_id: str, run_id: str) -> dict[str, str]:
    """The trace context to store with a run that starts now, as W3C fields.

    Inside a trace (a request's span is current), that trace's current context.
    Outside one, a ``workflow.start <workflow id>`` span begins a trace of the
    run's own, so that its spans still make one trace. ``{}`` without OpenTelemetry.
    """
    otel = _otel()
    if otel is None:
        return {}
    trace, propagator = otel
    carrier: dict[str, str] = {}
    if trace.get_current_span().get_span_context().is_valid:
        propagator.inject(carrier)
    else:
        attributes = {"workflow.id": workflow_id, "workflow.run_id": run_id}
        root = trace.get_tracer(TRACER).start_span(f"workflow.start {workflow_id}", attributes=attributes)
        root.end()
        propagator.inject(carrier, context=trace.set_span_in_context(root))
    return {name: carrier[name] for name in _FIELDS if name in carrier}


@contextlib.contextmanager
def step_span(record: RunRecord, workflow_id: str, task: dict[str, Any]) -> Iterator[Any]:
    """The span of one execution of a step, current inside the block (``None`` without OpenTelemetry)."""
    otel = _otel()
    if otel is None or task.get("kind") != "step" or _inert(otel[0], record):
        yield None
        return
    trace, propagator = otel
    attributes = {
        **_run_attributes(record, workflow_id),
        "workflow.step.id": str(task.get("step", "")),
        "workflow.step.path": str(task.get("path", "")),
        "workflow.step.attempt": int(task.get("attempt", 0)),
    }
    tracer = trace.get_tracer(TRACER)
    parent = propagator.extract(record.trace_context or {})
    name = f"workflow.step {task.get('path', '')}"
    with tracer.start_as_current_span(name, context=parent, attributes=attributes) as span:
        yield span


def _inert(trace: Any, record: RunRecord) -> bool:
    """Whether a step's span would change nothing: a no-op span over a context with no span either.

    Without a tracer provider (the API's proxy, no SDK), a run stored without a
    trace context gets the invalid no-op span; made current where no span is
    current, ``get_current_span()`` in the step returns the same invalid span
    as without it. Building it cost a few percent of an in-memory step.
    """
    return (
        not record.trace_context
        and isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
        and not trace.get_current_span().get_span_context().is_valid
    )


def step_ended(span: Any, outcome: dict[str, Any] | None) -> None:
    """Mark the step's span with how the execution ended."""
    if span is None or outcome is None:
        return
    status = str(outcome.get("status", ""))
    span.set_attribute("workflow.step.status", status)
    if status == "failed":
        _failed(span, outcome.get("error"))


def run_ended(record: RunRecord | None) -> None:
    """The span of a run that just ended, from its creation until now."""
    otel = _otel()
    if otel is None or record is None:
        return
    trace, propagator = otel
    tracer = trace.get_tracer(TRACER)
    start = _nanoseconds(record.created_at)
    span = tracer.start_span(
        f"workflow.run {record.workflow_id}",
        context=propagator.extract(record.trace_context or {}),
        attributes={**_run_attributes(record, record.workflow_id), "workflow.run.status": record.status},
        start_time=start,
    )
    if record.status == "failed":
        _failed(span, record.error)
    span.end()


def _run_attributes(record: RunRecord, workflow_id: str) -> dict[str, Any]:
    return {"workflow.id": workflow_id, "workflow.run_id": record.run_id, "workflow.engine": record.engine}


def _failed(span: Any, error: Any) -> None:
    from opentelemetry.trace import Status, StatusCode

    message = str(error.get("message", "")) if isinstance(error, dict) else str(error or "")
    span.set_status(Status(StatusCode.ERROR, message))
    if isinstance(error, dict) and error.get("name"):
        span.set_attribute("error.type", str(error["name"]))


def _nanoseconds(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1_000_000_000)
