"""``manage.py workflows_status``: live workers, the queue and runs that cannot move, for operators."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from workflows_app.monitoring import health


class Command(BaseCommand):
    help = "Show workers, the task queue and runs that cannot move on by themselves; exit 1 if unhealthy."

    def handle(self, *args: Any, **options: Any) -> None:
        report = health()
        self.stdout.write(f"workers: {report.live_workers} alive of {len(report.workers)} seen")
        for worker in report.workers:
            state = "alive" if worker["alive"] else "gone"
            self.stdout.write(
                f"  {worker['worker']}  {state}  running {worker['running']}/{worker['concurrency']}"
                f"  last seen {worker['last_seen']:%Y-%m-%d %H:%M:%S}"
            )
        self.stdout.write(
            f"tasks: {report.queued_tasks} due and waiting for a worker, {report.running_tasks} running, "
            f"{report.expired_leases} with an expired lease"
        )
        self.stdout.write(f"timers overdue by 30 s or more: {report.overdue_timers}")
        self.stdout.write(f"stuck runs (active, nothing owed): {len(report.stuck_runs)}")
        for run_id in report.stuck_runs:
            self.stdout.write(f"  {run_id}")
        self.stdout.write(
            f"orphaned runs (held by a default-engine process that stopped): {len(report.orphaned_runs)}"
        )
        for run_id in report.orphaned_runs:
            self.stdout.write(f"  {run_id}  (restart it)")
        if not report.healthy:
            raise SystemExit(1)
