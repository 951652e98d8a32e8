"""``manage.py workflows_prune``: delete runs that ended long ago, with their steps, tasks and events.

Retention is the operator's choice, so nothing is deleted by default: the age
is required. A run's age is the time since it last changed (``updated_at``),
which for an ended run is when it ended. Runs that may still move (pending,
running, waiting) are never deleted: a worker would lose the ground under a
step. Deletion goes in batches, each its own transaction, so that a large
backlog neither holds long locks nor builds one huge statement.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from workflows_app.models import ACTIVE_STATUSES, RunStatus, WorkflowEvent, WorkflowRun

ENDED = (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.TRIPWIRE)
PRUNABLE = [status.value for status in RunStatus if status not in ACTIVE_STATUSES]
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m`` or ``45s`` as a duration."""
    found = re.fullmatch(r"\s*(\d+)\s*([dhms])\s*", text)
    if found is None:
        raise CommandError(f"--older-than {text!r}: give a number and a unit, e.g. 30d, 12h, 90m or 45s")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


class Command(BaseCommand):
    help = "Delete runs older than --older-than whose status is one of --status, with all their rows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than", required=True, help="age since the run last changed: 30d, 12h, 90m or 45s"
        )
        parser.add_argument(
            "--status",
            action="append",
            choices=PRUNABLE,
            help=f"a status to delete (repeat for more; default: {', '.join(ENDED)})",
        )
        parser.add_argument("--batch-size", type=int, default=500, help="runs deleted per transaction")
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be deleted, delete nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        age = parse_age(options["older_than"])
        statuses = options["status"] or list(ENDED)
        cutoff = timezone.now() - age
        runs = WorkflowRun.objects.filter(status__in=statuses, updated_at__lt=cutoff)
        described = f"{', '.join(statuses)} runs last changed before {cutoff:%Y-%m-%d %H:%M:%S} UTC"
        if options["dry_run"]:
            count = runs.count()
            events = WorkflowEvent.objects.filter(run__in=runs).count()
            self.stdout.write(f"would delete {count} {described} (with {events} events); deleted nothing")
            return
        deleted, batches = self._delete(runs, options["batch_size"])
        self.stdout.write(f"deleted {deleted} {described} in {batches} batch(es)")

    def _delete(self, runs: QuerySet[WorkflowRun], batch_size: int) -> tuple[int, int]:
        """Delete ``runs`` a batch at a time; returns (runs deleted, batches)."""
        deleted = batches = 0
        while True:
            with transaction.atomic():
                batch = list(runs.order_by("updated_at").values_list("pk", flat=True)[:batch_size])
                if not batch:
                    return deleted, batches
                # The filter again: a run restarted since it was listed is no longer old and ended.
                # Its steps, tasks and events go with it (Django's collector cascades).
                _, counts = runs.filter(pk__in=batch).delete()
            done = counts.get(WorkflowRun._meta.label, 0)
            deleted += done
            batches += 1
            self.stdout.write(f"batch {batches}: {done} runs")
