"""``manage.py workflows_status``: live workers, queue depth and stuck runs, for operators."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from workflows_app.monitoring import health


class Command(BaseCommand):
    help = "Show evented-engine workers, queue depth and runs that stopped moving; exit 1 if unhealthy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stuck-minutes", type=float, default=10.0, help="a running run unchanged this long is stuck"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = health(stuck_after=timedelta(minutes=options["stuck_minutes"]))
        self.stdout.write(f"workers: {report.live_workers} alive of {len(report.workers)} seen")
        for worker in report.workers:
            state = "alive" if worker["alive"] else "gone"
            self.stdout.write(
                f"  {worker['worker']}  {state}  running {worker['running']}/{worker['concurrency']}"
                f"  last seen {worker['last_seen']:%Y-%m-%d %H:%M:%S}"
            )
        self.stdout.write(
            f"tasks: {report.unclaimed_tasks} waiting for a worker, {report.claimed_tasks} running, "
            f"{report.expired_leases} with an expired lease"
        )
        self.stdout.write(f"timers overdue by 30 s or more: {report.overdue_timers}")
        self.stdout.write(f"stuck runs: {len(report.stuck_runs)}")
        for run_id in report.stuck_runs:
            self.stdout.write(f"  {run_id}")
        if report.stuck_runs or report.expired_leases or report.overdue_timers:
            raise SystemExit(1)
