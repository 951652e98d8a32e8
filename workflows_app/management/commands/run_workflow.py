"""``manage.py run_workflow``: start or resume a run from the shell and watch it live."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandError, CommandParser

from workflows_app.core import errors, payloads, runtime
from workflows_app.core.results import WorkflowResult
from workflows_app.core.workflow import Workflow


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
        self._started: dict[str, int] = {}
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

    async def _arun(self, workflow: Workflow, options: dict[str, Any]) -> WorkflowResult:
        run = await workflow.acreate_run(
            run_id=options["resume"], resource_id=options["resource_id"], engine=options["engine"]
        )
        unwatch = run.watch(self._print_event)
        try:
            if options["resume"]:
                return await run.aresume(
                    _json(options["data"], "--data"), step=options["step"], label=options["label"]
                )
            self.stdout.write(f"run {run.run_id} of {workflow.id}")
            return await run.astart(
                _json(options["input"], "--input"), initial_state=_json(options["state"], "--state")
            )
        finally:
            unwatch()

    def _print_event(self, event: dict[str, Any]) -> None:
        payload = event.get("payload") or {}
        kind = event["type"]
        if kind == "workflow-step-result":
            took = ""
            started = self._started.pop(str(payload.get("id")), None)
            if started is not None and payload.get("ended_at"):
                took = f" ({(payload['ended_at'] - started) / 1000:.3f} s)"
            self.stdout.write(f"  {payload.get('id')}: {payload.get('status')}{took}")
        elif kind == "workflow-step-start":
            self._started[str(payload.get("id"))] = int(payload.get("started_at") or 0)
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
    if text is None:
        return None
    try:
        return payloads.parse_json(text, what=flag)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{flag} is not valid JSON: {exc}") from exc
    except errors.PayloadError as exc:
        raise CommandError(str(exc)) from exc
