"""``manage.py run_workflow``: start or resume a run from the shell and watch it live."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandError, CommandParser

from workflows_app.core import errors, payloads, runtime
from workflows_app.core.clock import active_ms
from workflows_app.core.graph import WorkflowDefinition
from workflows_app.core.results import WorkflowResult
from workflows_app.core.run import acreate_run


class Command(BaseCommand):
    help = "Run a registered workflow (or resume a suspended run) and print its events as they happen."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workflow_id", help="id of a registered workflow")
        parser.add_argument("--input", default=None, help="workflow input as JSON")
        parser.add_argument("--state", default=None, help="initial state as JSON")
        parser.add_argument("--resource-id", default=None)
        parser.add_argument("--engine", default=None, help="default or evented (default: settings)")
        parser.add_argument("--resume", metavar="RUN_ID", default=None, help="resume this suspended run")
        parser.add_argument("--step", default=None, help="step to resume (id or dotted path)")
        parser.add_argument("--label", default=None, help="resume label to resume")
        parser.add_argument("--data", default=None, help="resume data as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        self._started: dict[str, dict[str, Any]] = {}
        try:
            workflow = runtime.get_workflow(options["workflow_id"])
        except errors.WorkflowNotFoundError as exc:
            known = ", ".join(sorted(runtime.registered_workflows())) or "none"
            raise CommandError(f"{exc}. Registered workflows: {known}") from exc
        try:
            result = async_to_sync(self._arun)(workflow, options)
        except errors.WorkflowError as exc:
            raise CommandError(str(exc)) from exc
        self._print_result(workflow.id, result)

    async def _arun(self, workflow: WorkflowDefinition, options: dict[str, Any]) -> WorkflowResult:
        """Start or resume the run and print its events, each once and in order, until it settles.

        The run's stream (``astream``) does the ordering: on the evented engine an
        event can reach this process twice (from the worker's relay and the log).
        The run id is printed with the run's first event, so a run that was
        refused before it was stored (invalid input) never shows an id.
        """
        run = await acreate_run(
            workflow, run_id=options["resume"], resource_id=options["resource_id"], engine=options["engine"]
        )
        if options["resume"]:
            if await run.arefresh() is None:
                raise CommandError(f"No stored run {options['resume']!r} of {workflow.id}: nothing to resume")
            self.stdout.write(f"resuming run {run.run_id} of {workflow.id}")
            data = _json(options["data"], "--data")
            stream = run.aresume_stream(data, step=options["step"], label=options["label"])
        else:
            input_data = _json(options["input"], "--input")
            state = _json(options["state"], "--state")
            stream = run.astream(input_data, initial_state=state)
        async for event in stream:
            if event["type"] == "workflow-start":
                self.stdout.write(f"run {run.run_id} of {workflow.id}")
            self._print_event(event)
        return await stream.result()

    def _print_event(self, event: dict[str, Any]) -> None:
        payload = event.get("payload") or {}
        kind = event["type"]
        if kind == "workflow-step-result":
            took = ""
            start = self._started.pop(str(payload.get("id")), None)
            if start is not None and payload.get("ended_at"):
                worked = active_ms(
                    int(start.get("started_at") or 0),
                    int(payload["ended_at"]),
                    suspended_at=start.get("suspended_at"),
                    resumed_at=start.get("resumed_at"),
                )
                took = f" ({worked / 1000:.3f} s)"
            self.stdout.write(f"  {payload.get('id')}: {payload.get('status')}{took}")
        elif kind == "workflow-step-start":
            self._started[str(payload.get("id"))] = payload
            self.stdout.write(f"  {payload.get('id')}: running")
        elif kind == "workflow-step-suspended":
            self.stdout.write(
                f"  {payload.get('id')}: suspended {json.dumps(payload.get('suspend_payload'))}"
            )
        elif kind == "workflow-step-waiting":
            self.stdout.write(f"  {payload.get('id')}: waiting")
        elif kind == "workflow-step-output":
            self.stdout.write(f"  output: {json.dumps(payload.get('output'), default=str)}")

    def _print_result(self, workflow_id: str, result: WorkflowResult) -> None:
        self.stdout.write(f"status: {result.status}")
        if result.status == "success":
            self.stdout.write("result: " + json.dumps(result.result, default=str, indent=2))
        elif result.status == "failed":
            self.stdout.write("error: " + json.dumps(result.error, default=str, indent=2))
        elif result.status == "suspended":
            for path in result.suspended:
                step = ".".join(path)
                self.stdout.write(
                    f"suspended at {step}; resume with: manage.py run_workflow {workflow_id} "
                    f"--resume {result.run_id} --step {step} --data '<json>'"
                )


def _json(text: str | None, flag: str) -> Any:
    """The JSON value of a command-line option, held to the limits of every entry (``core.payloads``)."""
    if text is None:
        return None
    try:
        return payloads.plain(payloads.parse_json(text, what=flag), what=flag)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{flag} is not valid JSON: {exc}") from exc
    except errors.PayloadError as exc:
        raise CommandError(str(exc)) from exc
