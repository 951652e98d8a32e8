"""``manage.py workflows_schedules``: the schedules and their next fire times; sync or fire them by hand."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from workflows_app.core import runtime
from workflows_app.models import WorkflowSchedule
from workflows_app.schedules import afire_due, next_fire_times, sync_declared


class Command(BaseCommand):
    help = (
        "List the workflow schedules with their next fire times. --sync writes the schedules declared "
        "in code to rows; --fire fires the ticks due now (what every worker's sweeper does)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sync", action="store_true", help="sync the schedules declared in code")
        parser.add_argument("--fire", action="store_true", help="fire the ticks due now, once")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["sync"]:
            self.stdout.write(f"synced declared schedules: {sync_declared()} row(s) changed")
        if options["fire"]:
            started = asyncio.run(self._afire())
            self.stdout.write(f"fired: {len(started)} run(s) started")
            for run_id in started:
                self.stdout.write(f"  {run_id}")
        for row in WorkflowSchedule.objects.order_by("name"):
            state = "paused" if row.paused else "active"
            upcoming = ", ".join(f"{tick:%Y-%m-%d %H:%M}Z" for tick in next_fire_times(row, 3)) or "-"
            self.stdout.write(
                f"{row.name}  {row.workflow_id}  '{row.cron}' {row.timezone}  catch_up={row.catch_up}  "
                f"{state}  next: {upcoming}"
            )

    async def _afire(self) -> list[str]:
        """Fire, then see the runs of the default engine through: their steps run in this process."""
        started = await afire_due()
        engine = runtime.get_engine()
        if engine.name == "default":
            for run_id in started:
                await engine.await_settled(run_id)
        return started
