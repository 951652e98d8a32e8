"""``manage.py workflows_worker``: run steps of the evented engine until stopped."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from workflows_app.worker import arun_worker


class Command(BaseCommand):
    help = "Run a workflow worker: claim and run steps of evented runs until SIGINT/SIGTERM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--concurrency", type=int, default=None, help="steps run at once (default: settings)"
        )
        parser.add_argument(
            "--grace", type=float, default=10.0, help="seconds running steps get to finish on stop"
        )
        parser.add_argument(
            "--workflows",
            default="",
            help="comma-separated workflow ids this worker serves (default: every registered one)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(
            f"workflows worker starting (concurrency {options['concurrency'] or 'from settings'})"
        )
        workflows = [name for name in options["workflows"].split(",") if name] or None
        asyncio.run(arun_worker(options["concurrency"], grace_seconds=options["grace"], workflows=workflows))
