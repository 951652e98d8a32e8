"""Runs, step attempts and the event log, as Django models.

``WorkflowRun.version`` is the compare-and-set counter every commit checks;
``StepAttempt`` has one row per coordinate (``foreach_index`` is -1 outside a
foreach item, so that the unique constraint also holds on SQLite); the events of
a run have a ``seq`` that grows by one with no gap (``WorkflowRun.last_seq``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

# The API tokens live apart (see _tokens.py); imported here, Django finds them as it finds these.
from ._tokens import TOKEN_PREFIX as TOKEN_PREFIX
from ._tokens import ApiToken as ApiToken
from ._tokens import ApiTokenQuerySet as ApiTokenQuerySet
from .core.plan import ACTIVE


class WorkflowJSONEncoder(DjangoJSONEncoder):
    """Django's encoder, plus anything pydantic knows how to turn into JSON."""

    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            from pydantic_core import to_jsonable_python

            try:
                return to_jsonable_python(o)
            except Exception:  # a value JSON cannot hold is kept as its text
                return repr(o)


class RunStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUSPENDED = "suspended"
    WAITING = "waiting"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELED = "canceled"
    PAUSED = "paused"
    TRIPWIRE = "tripwire"


ACTIVE_STATUSES = tuple(RunStatus(status) for status in sorted(ACTIVE))


class WorkflowRunQuerySet(models.QuerySet["WorkflowRun"]):
    def for_workflow(self, workflow_id: str) -> WorkflowRunQuerySet:
        return self.filter(workflow_id=workflow_id)

    def suspended(self) -> WorkflowRunQuerySet:
        return self.filter(status=RunStatus.SUSPENDED)

    def active(self) -> WorkflowRunQuerySet:
        return self.filter(status__in=ACTIVE_STATUSES)


def _json(**options: Any) -> models.JSONField[Any, Any]:
    return models.JSONField(encoder=WorkflowJSONEncoder, null=True, blank=True, **options)


class WorkflowRun(models.Model):
    run_id = models.CharField(max_length=64, primary_key=True)
    workflow_id = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    resource_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - None: no resource
    input = _json()
    run_state = _json(default=dict)
    request_context = _json(default=dict)
    state = _json(default=dict)
    result = _json()
    error = _json()
    definition_hash = models.CharField(max_length=64, blank=True, default="")
    engine = models.CharField(max_length=32, default="default")
    generation = models.PositiveIntegerField(default=0)
    version = models.PositiveBigIntegerField(default=0)
    last_seq = models.PositiveBigIntegerField(default=0)
    parent_run_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - None: top level
    snapshot = _json()  # the view kept by the workflow's should_persist_snapshot (core/stored_runs.py)
    # The key of its workflow's concurrency limit (core/limits.py); "" for a workflow without one.
    limit_key = models.CharField(max_length=300, blank=True, default="")
    # The W3C trace context of the code that started it (core/tracing.py); {} outside a trace.
    trace_context = models.JSONField(default=dict, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkflowRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        # The admin and REST lists order by (created_at, run_id), newest first, and filter by
        # one of these columns: each index gives a page in its order, whatever the table's size
        # and however rare the value (an index without run_id leaves a sort of the ties).
        indexes = [
            models.Index(
                fields=["workflow_id", "status", "-created_at", "-run_id"], name="wfrun_wf_status_list"
            ),
            models.Index(fields=["status", "-created_at", "-run_id"], name="wfrun_status_list"),
            models.Index(fields=["-created_at", "-run_id"], name="wfrun_list"),
            models.Index(fields=["resource_id", "-created_at", "-run_id"], name="wfrun_resource_list"),
            models.Index(fields=["started_by", "-created_at", "-run_id"], name="wfrun_owner_list"),
            models.Index(fields=["workflow_id", "-created_at", "-run_id"], name="wfrun_workflow_list"),
            # The claim of a run's admission: the runs that hold a slot of its limit.
            models.Index(
                fields=["limit_key", "status"], name="wfrun_limited", condition=~models.Q(limit_key="")
            ),
        ]
        permissions = [
            ("start_workflowrun", "Can start a workflow run"),
            ("resume_workflowrun", "Can resume a suspended workflow run"),
            ("cancel_workflowrun", "Can cancel a workflow run"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id} {self.run_id} ({self.status})"


class StepAttempt(models.Model):
    # Not indexed alone: the unique constraint below starts with the run (one index less to write per row).
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, db_index=False, related_name="steps")
    path = models.CharField(max_length=500)
    foreach_index = models.IntegerField(default=-1)
    iteration = models.PositiveIntegerField(default=0)
    attempt = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16)
    payload = _json()
    output = _json()
    error = _json()
    suspend_payload = _json()
    resume_payload = _json()
    suspend_output = _json()
    started_at = models.BigIntegerField(null=True, blank=True)
    ended_at = models.BigIntegerField(null=True, blank=True)
    suspended_at = models.BigIntegerField(null=True, blank=True)
    resumed_at = models.BigIntegerField(null=True, blank=True)
    metadata = _json()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "path", "foreach_index", "iteration", "attempt"],
                name="step_attempt_coordinate",
            )
        ]

    def __str__(self) -> str:
        return f"{self.path} ({self.status})"


class TaskStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELED = "canceled"


class WorkflowTask(models.Model):
    """Work a run is owed: a row of the queue that workers claim (docs/architecture.md).

    Written by the commit that owes the work, claimed by a worker with a lease
    (``lease`` grows at every claim; renewals and completion must quote it),
    deleted by the commit that applies its outcome. ``available_at`` and
    ``lease_until`` are epoch milliseconds on the database's clock.
    """

    # Not indexed alone: the unique constraint below starts with the run (one index less to write per row).
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, db_index=False, related_name="tasks")
    key = models.CharField(max_length=500)
    handout = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=32)
    queue = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.QUEUED)
    available_at = models.BigIntegerField()
    owner = models.CharField(max_length=200, blank=True, default="")
    lease = models.PositiveIntegerField(default=0)
    lease_until = models.BigIntegerField(null=True, blank=True)
    deliveries = models.PositiveIntegerField(default=0)
    created_at = models.BigIntegerField()
    # A limit the claim enforces (core/limits.py: Gate); "" and zeros for none.
    limit_key = models.CharField(max_length=300, blank=True, default="")
    limit_n = models.PositiveIntegerField(default=0)
    rate_n = models.PositiveIntegerField(default=0)
    rate_ms = models.BigIntegerField(default=0)

    class Meta:
        indexes = [
            # The claim: a queue's due rows, oldest first.
            models.Index(
                fields=["queue", "available_at", "id"],
                name="wftask_claimable",
                condition=models.Q(status="queued"),
            ),
            # The sweeper: leases that may have expired.
            models.Index(
                fields=["queue", "lease_until"],
                name="wftask_leased",
                condition=models.Q(status__in=["running", "canceled"]),
            ),
            # The claim of gated rows: the rows of a key, held or waiting.
            models.Index(
                fields=["limit_key", "status"], name="wftask_limited", condition=~models.Q(limit_key="")
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["run", "key", "handout"], name="workflow_task_handout"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} #{self.handout} ({self.status})"


class WorkflowEvent(models.Model):
    # Not indexed alone: the unique constraint below starts with the run (one index less to write per row).
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, db_index=False, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=64)
    source = models.CharField(max_length=16, default="WORKFLOW")
    payload = _json()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="workflow_event_seq")]

    def __str__(self) -> str:
        return f"{self.seq} {self.type}"


class EventWait(models.Model):
    """A suspended step waits on an event: how a sender finds the runs by name and key.

    An index of the run states, replaced by the commits that change what a run
    waits for; the run state stays the truth (a sender checks it before it
    delivers, under the run's compare-and-set).
    """

    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="event_waits")
    task_key = models.CharField(max_length=500)
    name = models.CharField(max_length=200)
    key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - None: no correlation key

    class Meta:
        indexes = [models.Index(fields=["name", "key"], name="wfwait_name_key")]

    def __str__(self) -> str:
        return f"{self.run_id} waits on {self.name} ({self.key})"


class SentEvent(models.Model):
    """An event sent before a run waited on it, kept until a run takes it or it expires.

    ``run`` set: sent to that run only; unset: to any run waiting on ``name`` and
    ``key``. ``taken_by`` is the run that took it. Times are epoch milliseconds.
    """

    name = models.CharField(max_length=200)
    key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - None: no correlation key
    run = models.ForeignKey(
        WorkflowRun, null=True, blank=True, on_delete=models.CASCADE, related_name="sent_events"
    )
    data = _json()
    sent_at = models.BigIntegerField()
    expires_at = models.BigIntegerField(db_index=True)
    taken_by = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - None: not taken

    class Meta:
        indexes = [
            models.Index(fields=["name", "key", "id"], name="wfsent_name_key"),
            models.Index(fields=["run", "name", "id"], name="wfsent_run_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key}) #{self.pk}"


class LimitStart(models.Model):
    """A claim that counts against a rate (core/limits.py) until ``until`` (epoch ms, database clock)."""

    key = models.CharField(max_length=300)
    until = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["key", "until"], name="wflimit_start_window")]

    def __str__(self) -> str:
        return f"{self.key} until {self.until}"


class WorkerHeartbeat(models.Model):
    """A worker of the evented engine says it is alive (and what it is doing)."""

    worker = models.CharField(max_length=200, primary_key=True)
    host = models.CharField(max_length=200, blank=True, default="")
    pid = models.PositiveIntegerField(default=0)
    concurrency = models.PositiveIntegerField(default=0)
    running = models.PositiveIntegerField(default=0)
    last_seen = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker} ({self.last_seen:%Y-%m-%d %H:%M:%S})"


class CatchUp(models.TextChoices):
    """What a schedule does with ticks missed while nothing fired them (``core/schedules.py``)."""

    NONE = "none", "none: skip missed ticks"
    ONE = "one", "one: one run for all missed ticks"
    ALL = "all", "all: one run per missed tick"


class WorkflowScheduleQuerySet(models.QuerySet["WorkflowSchedule"]):
    def active(self) -> WorkflowScheduleQuerySet:
        return self.filter(paused=False)

    def due(self, now: Any) -> WorkflowScheduleQuerySet:
        """Schedules with a tick at or before ``now`` that no sweep dealt with yet."""
        return self.active().filter(next_fire_at__lte=now)


class WorkflowSchedule(models.Model):
    """A cron schedule that starts runs of a workflow, one per tick, whatever the number of workers.

    ``last_tick`` is the last tick a sweep dealt with (fired, or dropped by the
    catch-up policy); it only moves forward. ``next_fire_at`` is the tick after
    it, kept so that finding the due schedules is one indexed query. Rows come
    from the workflows' code (``declared``, synced when a worker starts) or from
    the admin and the REST API.
    """

    name = models.CharField(max_length=200, unique=True)
    workflow_id = models.CharField(max_length=200)
    cron = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC")
    input = _json()
    catch_up = models.CharField(max_length=8, choices=CatchUp.choices, default=CatchUp.NONE)
    paused = models.BooleanField(default=False)
    declared = models.BooleanField(default=False, help_text="Declared in the workflow's code.")
    last_tick = models.DateTimeField()
    next_fire_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkflowScheduleQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["next_fire_at"], name="wfschedule_due", condition=models.Q(paused=False)),
            models.Index(fields=["workflow_id"], name="wfschedule_workflow"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.cron} {self.timezone})"


class WorkflowScheduleTick(models.Model):
    """A tick of a schedule that fired, and the run it started: written in the run's own transaction.

    The unique (schedule, tick) is what makes a tick start one run however many
    workers fire it at once: the losers' inserts fail and their transactions,
    run included, roll back.
    """

    schedule = models.ForeignKey(WorkflowSchedule, on_delete=models.CASCADE, related_name="ticks")
    tick = models.DateTimeField()
    run_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-tick"]
        constraints = [models.UniqueConstraint(fields=["schedule", "tick"], name="workflow_schedule_tick")]

    def __str__(self) -> str:
        return f"{self.schedule_id} @ {self.tick:%Y-%m-%d %H:%M} -> {self.run_id}"
