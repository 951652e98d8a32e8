"""Beyond the spec: OpenTelemetry spans for runs and steps (issue 14, item 6), on every engine.

The tests install the SDK's tracer provider once, with its in-memory span
exporter. Steps that run in forked worker processes (the evented engine on the
PostgreSQL + Redis leg) export into their copy of that exporter, so a second
exporter hands what those processes finish to the test through a shared list.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from workflows_app import create_step, create_workflow

from .conftest import Harness
from .processes import shared_list

TEST_PID = os.getpid()
LOCAL = InMemorySpanExporter()


class _FromWorkers(SpanExporter):
    """Spans finished in forked worker processes, as plain dicts in the test's shared list."""

    sink: list[Any] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if os.getpid() != TEST_PID:
            self.sink.extend(_plain(span) for span in spans)
        return SpanExportResult.SUCCESS


def _plain(span: ReadableSpan) -> dict[str, Any]:
    return {
        "name": span.name,
        "trace_id": span.context.trace_id if span.context else None,
        "span_id": span.context.span_id if span.context else None,
        "parent": span.parent.span_id if span.parent else None,
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
    }


@pytest.fixture(scope="module", autouse=True)
def provider() -> None:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        installed = TracerProvider()
        installed.add_span_processor(SimpleSpanProcessor(LOCAL))
        installed.add_span_processor(SimpleSpanProcessor(_FromWorkers()))
        trace.set_tracer_provider(installed)


@pytest.fixture
def spans(harness: Harness) -> Iterator[list[dict[str, Any]]]:
    """Every span finished during the test, in this process or in a worker process."""
    LOCAL.clear()
    _FromWorkers.sink = shared_list()
    collected: list[dict[str, Any]] = []
    yield collected


def finished() -> list[dict[str, Any]]:
    return [_plain(span) for span in LOCAL.get_finished_spans()] + list(_FromWorkers.sink)


def named(prefix: str) -> list[dict[str, Any]]:
    return [span for span in finished() if span["name"].startswith(prefix)]


def two_steps(name: str) -> Any:
    async def first(ctx: Any) -> Any:
        return {"n": ctx.input_data["n"] + 1}

    async def second(ctx: Any) -> Any:
        with trace.get_tracer("app").start_as_current_span("app.inside-step"):
            return {"n": ctx.input_data["n"] * 2}

    return (
        create_workflow(name)
        .then(create_step("first", execute=first))
        .then(create_step("second", execute=second))
        .commit()
    )


async def test_step_and_run_spans_are_children_of_the_request_that_started_the_run(
    harness: Harness, spans: list[Any]
) -> None:
    workflow = two_steps("otel-children")
    with trace.get_tracer("test").start_as_current_span("request") as request:
        result = await harness.start(workflow, {"n": 1})
    assert result.status == "success"
    context = request.get_span_context()
    steps = named("workflow.step ")
    assert sorted(span["name"] for span in steps) == ["workflow.step first", "workflow.step second"]
    (run,) = named("workflow.run ")
    for span in [*steps, run]:
        assert (span["trace_id"], span["parent"]) == (context.trace_id, context.span_id)
    assert run["name"] == "workflow.run otel-children"
    assert run["attributes"]["workflow.run_id"] == result.run_id
    assert run["attributes"]["workflow.run.status"] == "success"
    assert steps[0]["attributes"]["workflow.step.status"] == "success"
    (inside,) = named("app.inside-step")  # the step's span is current while its code runs
    second = next(span for span in steps if span["name"] == "workflow.step second")
    assert inside["parent"] == second["span_id"]


async def test_a_run_resumed_later_keeps_the_trace_of_its_start(harness: Harness, spans: list[Any]) -> None:
    async def approve(ctx: Any) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        return ctx.resume_data

    workflow = create_workflow("otel-resume").then(create_step("approve", execute=approve)).commit()
    with trace.get_tracer("test").start_as_current_span("request") as request:
        started = await harness.start(workflow, {})
    assert started.status == "suspended"
    resumed = await harness.resume(workflow, started.run_id, {"ok": True})  # outside any span
    assert resumed.status == "success"
    context = request.get_span_context()
    executions = named("workflow.step approve")
    assert len(executions) == 2
    assert {(span["trace_id"], span["parent"]) for span in executions} == {
        (context.trace_id, context.span_id)
    }


async def test_a_failed_step_and_its_run_have_error_spans(harness: Harness, spans: list[Any]) -> None:
    async def broken(ctx: Any) -> Any:
        raise ValueError("no stock")

    workflow = create_workflow("otel-failure").then(create_step("broken", execute=broken)).commit()
    result = await harness.start(workflow, {})
    assert result.status == "failed"
    (step,) = named("workflow.step broken")
    (run,) = named("workflow.run ")
    assert step["status"] == run["status"] == StatusCode.ERROR.name
    assert step["attributes"]["error.type"] == "ValueError"
    (root,) = named("workflow.start ")  # outside a trace, the run's spans make one of their own
    assert {(span["trace_id"], span["parent"]) for span in (step, run)} == {
        (root["trace_id"], root["span_id"])
    }
