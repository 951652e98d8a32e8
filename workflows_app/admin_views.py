"""Admin pages beyond the model admin: the run page's context, Resume, Send event, Cancel, Restart, Start.

Every action calls the engine API (``Run.aresume``, ``asend_event``, ``acancel``,
``arestart``, ``astart``); none writes a run's status itself. Resume data is validated by the
engine against the step's resume schema, and its issues come back on the form.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.forms import ChoiceField
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from .admin_display import limit_waits, shown_rows, timeline
from .admin_graph import Row, build_graph
from .core import runtime
from .core.errors import ValidationError, WorkflowError
from .core.graph import describe_entry
from .core.hub import hub
from .core.plan import ACTIVE, OPEN, find_target
from .core.results import failed_attempts
from .core.run import Run, acancel_by_id, acreate_run, create_run
from .core.storage import latest_steps
from .forms import SchemaForm
from .models import WorkflowRun
from .permissions import can_act, visible_runs
from .quotas import astart_retry_after, rate_limited_message
from .request_threads import detach

EVENTS_PER_PAGE = 50
# How long an action waits for the run to settle before showing the run page,
# which then follows the run live. Under daphne the run goes on in the server's
# event loop after the response.
SETTLE_SECONDS = 2.0


async def _await_briefly(operation: Coroutine[Any, Any, Any] | asyncio.Task[Any]) -> Any:
    """The operation's result if it finishes within ``SETTLE_SECONDS``, else ``None``."""
    task = operation if isinstance(operation, asyncio.Task) else detach(operation)
    done, _ = await asyncio.wait({task}, timeout=SETTLE_SECONDS)
    return task.result() if done else None


def _run_or_404(request: HttpRequest, run_id: str) -> WorkflowRun:
    run = visible_runs(request.user).filter(pk=run_id).first()
    if run is None:
        raise Http404(f"No workflow run {run_id!r} that you may see")
    return run


def _require(request: HttpRequest, action: str, run: WorkflowRun | None = None) -> None:
    if not can_act(request.user, action, run.started_by_id if run else None):
        raise PermissionDenied(f"You may not {action} this workflow run")


def _run_url(run_id: str) -> str:
    return reverse("admin:workflows_app_workflowrun_change", args=[run_id])


def _resume_schema(workflow_id: str, step_path: str) -> dict[str, Any] | None:
    try:
        workflow = runtime.get_workflow(workflow_id)
    except LookupError:
        return None
    step = find_target(workflow, step_path.split("."))
    schema = getattr(step, "resume_schema", None)
    return schema.model_json_schema() if schema is not None else None


def run_page_context(request: HttpRequest, run: WorkflowRun) -> dict[str, Any]:
    """Steps, paginated events, the coloured graph and a resume form per suspended step."""
    storage = runtime.get_storage()
    rows = shown_rows(async_to_sync(storage.aget_steps)(run.run_id), run.status)
    current = latest_steps(rows)
    suspended = [row for row in current.values() if row.status == "suspended"]
    waits = _event_waits(run.run_state or {})
    events = Paginator(run.events.order_by("seq"), EVENTS_PER_PAGE).get_page(request.GET.get("events"))
    try:
        workflow = runtime.get_workflow(run.workflow_id)
        graph = build_graph([describe_entry(entry) for entry in workflow.entries], rows)
    except LookupError:
        graph = []
    return {
        "run": run,
        "steps": sorted(current.values(), key=lambda row: (row.started_at or 0, row.path)),
        "attempts": {path: sum(1 for r in rows if r.path == path) for path in current},
        "failed_attempts": {path: failed_attempts(row, rows) for path, row in current.items() if row.attempt},
        "events": events,
        "graph": graph,
        "timeline": timeline(rows),
        "travel_steps": travel_steps(graph),
        "can_travel": can_act(request.user, "time_travel", run.started_by_id) and run.status not in ACTIVE,
        "resume_forms": [
            (row, SchemaForm(_resume_schema(run.workflow_id, row.path), prefix=row.path), waits.get(row.path))
            for row in suspended
        ],
        "can_resume": can_act(request.user, "resume", run.started_by_id),
        "can_cancel": can_act(request.user, "cancel", run.started_by_id),
        "can_restart": can_act(request.user, "restart", run.started_by_id) and _restartable(run),
        "active": run.status in OPEN,
        "limit_waits": limit_waits(_gated_rows(run), run.run_state or {}),
    }


def _gated_rows(run: WorkflowRun) -> list[dict[str, Any]]:
    rows = run.tasks.filter(status="queued").exclude(limit_key="").order_by("id")
    return [dict(row) for row in rows.values("key", "kind", "limit_key", "limit_n", "rate_n", "rate_ms")]


def _event_waits(run_state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What each suspended step waits for (``event``, ``key``), by step path."""
    return {
        task["path"]: task["wait"]
        for task in (run_state.get("tasks") or {}).values()
        if task.get("status") == "suspended" and task.get("wait")
    }


def send_event(request: HttpRequest, run_id: str, step_path: str) -> HttpResponse:
    """Send the event a step waits on, with data from a form built from the step's resume schema."""
    run = _run_or_404(request, run_id)
    _require(request, "resume", run)
    wait = _event_waits(run.run_state or {}).get(step_path)
    if request.method != "POST" or wait is None:
        if wait is None:
            messages.error(request, f"{step_path} does not wait on an event (any more).")
        return HttpResponseRedirect(_run_url(run_id))
    form = SchemaForm(_resume_schema(run.workflow_id, step_path), request.POST, prefix=step_path)
    done = _operate(
        request,
        run,
        form,
        lambda handle, data: handle.asend_event(wait["event"], data, wait=True),
        lambda _: f"Sent {wait['event']} to {step_path}.",
    )
    if done is not None:
        return done
    context = {
        "run": run,
        "step_path": step_path,
        "form": form,
        "wait": wait,
        "title": f"Send {wait['event']}",
    }
    return render(request, "admin/workflows_app/workflowrun/send_event.html", context, status=400)


def _operate(
    request: HttpRequest,
    run: WorkflowRun,
    form: SchemaForm,
    operation: Callable[[Run, Any], Coroutine[Any, Any, Any]],
    said: Callable[[str], str],
) -> HttpResponse | None:
    """Call the engine as a valid form asks; the redirect to the run, or ``None`` to show the form again.

    Data the engine refuses comes back on the form's fields, any other refusal
    above them; ``said`` words the success from the run's status by then.
    """
    if not form.is_valid():
        return None
    handle = async_to_sync(acreate_run)(runtime.get_workflow(run.workflow_id), run_id=run.run_id)
    try:
        result = async_to_sync(_await_briefly)(operation(handle, form.payload()))
    except ValidationError as exc:
        form.add_issues(exc.issues)
        return None
    except WorkflowError as exc:
        form.add_error(None, exc.message)
        return None
    messages.success(request, said(getattr(result, "status", None) or "running"))
    return HttpResponseRedirect(_run_url(run.run_id))


def _restartable(run: WorkflowRun) -> bool:
    """Whether Restart is on offer: the check ``arestart()`` itself makes (no live worker holds the run)."""
    if run.status != "running":
        return False
    try:
        workflow = runtime.get_workflow(run.workflow_id)
    except LookupError:
        return False
    handle = create_run(workflow, run_id=run.run_id, engine=run.engine)
    return async_to_sync(handle.arestart_refusal)() is None


def resume_run(request: HttpRequest, run_id: str, step_path: str) -> HttpResponse:
    run = _run_or_404(request, run_id)
    _require(request, "resume", run)
    if request.method != "POST":
        return HttpResponseRedirect(_run_url(run_id))
    form = SchemaForm(_resume_schema(run.workflow_id, step_path), request.POST, prefix=step_path)
    done = _operate(
        request,
        run,
        form,
        lambda handle, data: handle.aresume(data, step=step_path.split(".")),
        lambda status: f"Resumed {step_path}: the run is {status}.",
    )
    if done is not None:
        return done
    return render(
        request,
        "admin/workflows_app/workflowrun/resume.html",
        {"run": run, "step_path": step_path, "form": form, "title": f"Resume {step_path}"},
        status=400,
    )


def cancel_run(request: HttpRequest, run_id: str) -> HttpResponse:
    run = _run_or_404(request, run_id)
    _require(request, "cancel", run)
    if request.method != "POST":
        return render(
            request, "admin/workflows_app/workflowrun/cancel.html", {"run": run, "title": "Cancel run"}
        )
    async_to_sync(acancel_by_id)(run_id)  # needs no definition of the workflow in this process
    messages.success(request, "The run was canceled.")
    return HttpResponseRedirect(_run_url(run_id))


def restart_run(request: HttpRequest, run_id: str) -> HttpResponse:
    run = _run_or_404(request, run_id)
    _require(request, "restart", run)
    if request.method != "POST":
        return HttpResponseRedirect(_run_url(run_id))
    handle = create_run(runtime.get_workflow(run.workflow_id), run_id=run_id, engine=run.engine)
    try:
        result = async_to_sync(_await_briefly)(handle.arestart())
    except WorkflowError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Restarted: the run is {result.status if result else 'running'}.")
    return HttpResponseRedirect(_run_url(run_id))


def workflows_page(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("workflows_app.view_workflowrun"):
        raise PermissionDenied("You may not see workflows")
    workflows = []
    for workflow_id, workflow in sorted(runtime.registered_workflows().items()):
        graph = [describe_entry(entry) for entry in workflow.entries]
        schemas = {
            name: json.dumps(schema.model_json_schema(), indent=2)
            for name in ("input_schema", "output_schema", "state_schema")
            if (schema := getattr(workflow, name, None)) is not None
        }
        workflows.append({"id": workflow_id, "graph": build_graph(graph, []), "schemas": schemas})
    return render(
        request,
        "admin/workflows_app/workflows.html",
        {"workflows": workflows, "title": "Workflows", "can_start": can_act(request.user, "start", None)},
    )


def start_run(request: HttpRequest, workflow_id: str) -> HttpResponse:
    _require(request, "start")
    try:
        workflow = runtime.get_workflow(workflow_id)
    except LookupError as exc:
        raise Http404(str(exc)) from exc
    schema = workflow.input_schema.model_json_schema() if workflow.input_schema is not None else None
    form = SchemaForm(schema, request.POST or None)
    retry_after = async_to_sync(astart_retry_after)(request.user) if request.method == "POST" else None
    if retry_after is not None:  # the REST API's limit, with its words; the form keeps what was typed
        form.add_error(None, rate_limited_message(retry_after))
    elif request.method == "POST" and form.is_valid():
        try:
            run_id = async_to_sync(_astart_as)(workflow, form.payload(), request.user.pk)
        except ValidationError as exc:
            form.add_issues(exc.issues)
        else:
            return HttpResponseRedirect(_run_url(run_id))
    response = render(
        request,
        "admin/workflows_app/start.html",
        {"workflow_id": workflow_id, "form": form, "title": f"Start {workflow_id}"},
        status=429 if retry_after is not None else 400 if request.method == "POST" else 200,
    )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


async def _astart_as(workflow: Any, input_data: Any, user_id: int | None) -> str:
    """Start a run that belongs to the user from its first commit on; wait for it briefly."""
    run = await workflow.acreate_run(owner=user_id)
    first_event, unsubscribe = hub.queue(run.run_id)
    try:
        starting = detach(run.astart(input_data))
        started = asyncio.ensure_future(first_event.get())
        await asyncio.wait({starting, started}, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        if starting.done():
            starting.result()  # an invalid input raises here, before any row exists
    finally:
        unsubscribe()
    await _await_briefly(starting)
    return str(run.run_id)


def travel_steps(graph: list[Row]) -> list[str]:
    """The dotted paths of every step and nested workflow of ``graph``: where time travel may start."""
    paths: list[str] = []
    pending = list(reversed(graph))
    while pending:
        row = pending.pop()
        for node in row.nodes:
            if node.kind != "sleep":
                paths.append(node.path)
            pending.extend(reversed(node.children))
    return paths


def _step_schema(workflow_id: str, step_path: str) -> dict[str, Any] | None:
    step = find_target(runtime.get_workflow(workflow_id), step_path.split("."))
    schema = getattr(step, "input_schema", None)
    return schema.model_json_schema() if schema is not None else None


def time_travel_run(request: HttpRequest, run_id: str) -> HttpResponse:
    """Run the workflow again from a chosen step, with input data the step's schema accepts.

    The form starts from the input the step had in this run; the engine checks
    the data against the step's input schema and its issues come back on the form.
    """
    run = _run_or_404(request, run_id)
    _require(request, "time_travel", run)
    try:
        workflow = runtime.get_workflow(run.workflow_id)
    except LookupError as exc:
        raise Http404(str(exc)) from exc
    steps = travel_steps(build_graph([describe_entry(entry) for entry in workflow.entries], []))
    step_path = request.POST.get("step") or request.GET.get("step") or ""
    if step_path not in steps:
        messages.error(request, f"Choose a step of {run.workflow_id} to travel from.")
        return HttpResponseRedirect(_run_url(run_id))
    stored = latest_steps(async_to_sync(runtime.get_storage().aget_steps)(run_id)).get(step_path)
    form = SchemaForm(_step_schema(run.workflow_id, step_path), request.POST or None, prefix="input")
    form.initial = _initial(form, stored.payload if stored else None)
    if request.method == "POST":
        done = _operate(
            request,
            run,
            form,
            lambda handle, data: handle.atime_travel(step_path.split("."), input_data=data),
            lambda status: f"Traveled to {step_path}: the run is {status}.",
        )
        if done is not None:
            return done
    context = {"run": run, "step_path": step_path, "form": form, "title": f"Time travel to {step_path}"}
    status = 400 if request.method == "POST" else 200
    return render(request, "admin/workflows_app/workflowrun/time_travel.html", context, status=status)


def _initial(form: SchemaForm, payload: Any) -> dict[str, Any]:
    """The form filled with the step's stored input: in its fields, or as JSON where it has none."""
    if payload is None:
        return {}
    if set(form.fields) == {"json"} or not isinstance(payload, dict):
        return {"json": json.dumps(payload, indent=2)}
    fields = {name: field for name, field in form.fields.items() if name in payload and name != "json"}
    return {
        name: json.dumps(payload[name]) if isinstance(field, ChoiceField) else payload[name]
        for name, field in fields.items()
    }


def cancel_runs(request: HttpRequest, runs: Any) -> tuple[int, int]:
    """Cancel each run of ``runs`` the user may cancel; returns (canceled, left as they were).

    Runs that already ended, and runs the user may not cancel, are left alone.
    Like Cancel on the run page, this needs no definition of the workflow here.
    """
    canceled = skipped = 0
    for run in runs.only("run_id", "status", "started_by_id"):
        if run.status not in OPEN or not can_act(request.user, "cancel", run.started_by_id):
            skipped += 1
            continue
        async_to_sync(acancel_by_id)(run.run_id)
        canceled += 1
    return canceled, skipped
