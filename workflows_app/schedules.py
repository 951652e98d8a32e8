"""Schedules as rows: made, paused, resumed, synced from code, and fired once per tick.

Who fires: every worker's sweeper (``manage.py workflows_worker``, the embedded
worker of the evented engine, the default engine's worker in a server process)
looks for due schedules at each sweep, and ``manage.py workflows_schedules
--fire`` does one sweep. Any number of them may fire the same tick at once.

Invariant: a tick starts exactly one run. Its :class:`WorkflowScheduleTick` row,
unique per (schedule, tick), is inserted in the transaction that creates and
starts the run, so either both are written or neither; a sweeper whose insert
loses the race rolls back. The commit takes none of the run's tasks for itself
(the transaction is not over when it is written): they wait in the queue, and
the doorbell rings once the transaction committed.

The admin and the REST API change rows only through the functions here, which
check what they are given (a clear :class:`ScheduleError` at once, never a
schedule that fails at its first tick).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync, sync_to_async
from django.db import IntegrityError, transaction
from django.utils import timezone

from .conf import workflow_settings
from .core import lifecycle, runtime
from .core.errors import InputValidationError, WorkflowError
from .core.run import create_run
from .core.schedules import (
    DEFAULT_BATCH,
    Schedule,
    ScheduleDeclaredError,
    ScheduleError,
    ScheduleExistsError,
    ScheduleNotFoundError,
    due_ticks,
    next_ticks,
)
from .core.validation import validate
from .models import WorkflowSchedule, WorkflowScheduleTick
from .storage import DjangoStorage

if TYPE_CHECKING:
    from .core.graph import WorkflowDefinition
    from .engines.base import Committed, Committer, Engine

logger = logging.getLogger(__name__)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")

__all__ = [
    "ScheduleError",
    "afire_due",
    "asweep_schedules",
    "create_schedule",
    "delete_schedule",
    "get_schedule",
    "next_fire_times",
    "pause_schedule",
    "resume_schedule",
    "sync_declared",
    "update_schedule",
]


# -- rows made by people (admin, REST) --------------------------------------------------------------
def check_schedule(workflow_id: str, cron: str, tz: str, input: Any, catch_up: str) -> Any:
    """The input as stored, once the workflow, cron, time zone, policy and input are known good."""
    try:
        workflow = runtime.get_workflow(workflow_id)
    except WorkflowError as exc:
        raise ScheduleError(str(exc)) from None
    schedule = Schedule(cron=cron, timezone=tz, input=input, catch_up=catch_up)  # type: ignore[arg-type]
    if workflow.validate_inputs:
        return validate(workflow.input_schema, schedule.input, InputValidationError)
    return schedule.input


def create_schedule(
    *,
    name: str,
    workflow_id: str,
    cron: str,
    timezone: str = "UTC",
    input: Any = None,
    catch_up: str = "none",
    paused: bool = False,
    declared: bool = False,
    now: datetime | None = None,
) -> WorkflowSchedule:
    """A new schedule row; its first tick is the first after ``now`` (no tick before it runs)."""
    if not _NAME.fullmatch(name or ""):
        raise ScheduleError(f"Invalid schedule name {name!r}: use letters, digits and _.:- (at most 200)")
    stored = check_schedule(workflow_id, cron, timezone, input, catch_up)
    start = now or _now()
    row = WorkflowSchedule(
        name=name,
        workflow_id=workflow_id,
        cron=cron,
        timezone=timezone,
        input=stored,
        catch_up=catch_up,
        paused=paused,
        declared=declared,
        last_tick=start,
        next_fire_at=_next(cron, timezone, start),
    )
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        raise ScheduleExistsError(f"A schedule named {name!r} already exists") from None
    return row


def get_schedule(name: str) -> WorkflowSchedule:
    row = WorkflowSchedule.objects.filter(name=name).first()
    if row is None:
        raise ScheduleNotFoundError(f"Schedule {name!r} not found")
    return row


def delete_schedule(row: WorkflowSchedule) -> None:
    """Delete a schedule made in the admin or over REST (declared ones go away with their code)."""
    if row.declared:
        raise ScheduleDeclaredError(
            f"Schedule {row.name!r} is declared in the code of workflow {row.workflow_id!r}; "
            "remove it there, or pause it"
        )
    row.delete()


def update_schedule(row: WorkflowSchedule, *, now: datetime | None = None, **fields: Any) -> WorkflowSchedule:
    """Change ``cron``, ``timezone``, ``input`` or ``catch_up``; the next tick follows the new rule."""
    if row.declared:
        raise ScheduleDeclaredError(
            f"Schedule {row.name!r} is declared in the code of workflow {row.workflow_id!r}; change it there"
        )
    for name, value in fields.items():
        setattr(row, name, value)
    row.input = check_schedule(row.workflow_id, row.cron, row.timezone, row.input, row.catch_up)
    row.next_fire_at = _next(row.cron, row.timezone, max(row.last_tick, now or _now()))
    row.save()
    return row


def pause_schedule(row: WorkflowSchedule) -> WorkflowSchedule:
    """Stop firing. The ticks that pass while paused are not caught up when it resumes."""
    row.paused = True
    row.save(update_fields=["paused", "updated_at"])
    return row


def resume_schedule(row: WorkflowSchedule, *, now: datetime | None = None) -> WorkflowSchedule:
    """Fire again from the first tick after ``now``."""
    start = max(row.last_tick, now or _now())
    row.paused = False
    row.last_tick = start
    row.next_fire_at = _next(row.cron, row.timezone, start)
    row.save(update_fields=["paused", "last_tick", "next_fire_at", "updated_at"])
    return row


def next_fire_times(row: WorkflowSchedule, count: int = 5, *, now: datetime | None = None) -> list[datetime]:
    """The next ``count`` ticks the schedule will fire (none while paused)."""
    if row.paused:
        return []
    return next_ticks(row.cron, row.timezone, max(row.last_tick, (now or _now()) - _grace()), count)


# -- rows declared in code ---------------------------------------------------------------------------
def schedule_name(workflow: WorkflowDefinition, schedule: Schedule) -> str:
    return schedule.name or workflow.id


def sync_declared(
    workflows: Mapping[str, WorkflowDefinition] | None = None, *, now: datetime | None = None
) -> int:
    """Make the rows of the schedules declared in code match them; idempotent. Returns rows changed.

    A declared row keeps its cursor and its paused flag (an operator's pause
    survives a deploy) unless its cron or time zone changed; rows of workflows
    this process has that no longer declare them are deleted. Rows of
    workflows this process does not know are left alone (another deploy's).
    """
    known = runtime.registered_workflows() if workflows is None else dict(workflows)
    start = now or _now()
    changed = 0
    declared: set[str] = set()
    for workflow in known.values():
        if workflow.schedule is None:
            continue
        name = schedule_name(workflow, workflow.schedule)
        declared.add(name)
        changed += _sync_one(workflow, workflow.schedule, name, start)
    stale = WorkflowSchedule.objects.filter(declared=True, workflow_id__in=list(known)).exclude(
        name__in=declared
    )
    deleted, _ = stale.delete()
    return changed + deleted


def _sync_one(workflow: WorkflowDefinition, schedule: Schedule, name: str, now: datetime) -> int:
    stored = check_schedule(workflow.id, schedule.cron, schedule.timezone, schedule.input, schedule.catch_up)
    wanted = {
        "workflow_id": workflow.id,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "input": stored,
        "catch_up": schedule.catch_up,
        "declared": True,
    }
    row = WorkflowSchedule.objects.filter(name=name).first()
    if row is None:
        try:
            create_schedule(
                name=name,
                workflow_id=workflow.id,
                cron=schedule.cron,
                timezone=schedule.timezone,
                input=stored,
                catch_up=schedule.catch_up,
                declared=True,
                now=now,
            )
        except ScheduleExistsError:
            return 0  # another process synced it first
        return 1
    if not row.declared:
        logger.warning(
            "A schedule named %r was made in the admin or over REST; the one workflow %r declares is not "
            "synced until it is renamed (Schedule(name=...)) or that row deleted",
            name,
            workflow.id,
        )
        return 0
    if all(getattr(row, key) == value for key, value in wanted.items()):
        return 0
    for key, value in wanted.items():
        setattr(row, key, value)
    row.next_fire_at = _next(row.cron, row.timezone, max(row.last_tick, now))
    row.save()
    return 1


# -- firing ----------------------------------------------------------------------------------------------
async def afire_due(
    now: datetime | None = None, *, engine: str | None = None, batch: int = DEFAULT_BATCH
) -> list[str]:
    """Fire every due tick of every active schedule; the ids of the runs this call started.

    ``now`` is the clock (tests move it); ``engine`` the engine of the runs
    (``None``: the ``ENGINE`` setting). Ticks another sweeper fired first are
    skipped. A schedule whose workflow this process does not have is left for a
    process that has it; one that fails (the database refused its run) is logged
    and tried again at the next sweep, its tick not lost.
    """
    moment = now or _now()
    rows = [row async for row in WorkflowSchedule.objects.due(moment).order_by("next_fire_at")]
    started: list[str] = []
    for row in rows:
        try:
            workflow = runtime.get_workflow(row.workflow_id)
        except WorkflowError:
            logger.debug("No workflow %r here for schedule %s; leaving it", row.workflow_id, row.name)
            continue
        try:
            started += await _afire_schedule(workflow, row, moment, runtime.get_engine(engine), batch)
        except Exception:  # one schedule's trouble must not keep the others from firing
            logger.exception("Schedule %s could not fire; trying again at the next sweep", row.name)
    return started


async def _afire_schedule(
    workflow: WorkflowDefinition, row: WorkflowSchedule, now: datetime, engine: Engine, batch: int
) -> list[str]:
    due = due_ticks(
        row.cron,
        row.timezone,
        since=row.last_tick,
        now=now,
        catch_up=row.catch_up,
        grace=_grace(),
        batch=batch,
    )
    committer = engine.deferred_committer()
    started: list[str] = []
    for tick in due.ticks:
        run = create_run(workflow, engine=engine.name)
        context = {"schedule": {"name": row.name, "tick": tick.isoformat()}}
        try:
            record, event = run.start_event(row.input, request_context=context)
        except WorkflowError:
            logger.exception(
                "Schedule %s cannot start %r at %s; skipping the tick", row.name, workflow.id, tick
            )
            continue
        committed = await sync_to_async(_fire_tick)(engine, workflow, row, tick, record, event, committer)
        if committed is None:
            continue  # another sweeper fired this tick
        if committed.decision.record is not None:
            await lifecycle.astarted(workflow, committed.decision.record)
        await engine.aafter_commit(workflow, committed, committer)
        started.append(run.run_id)
        logger.info("Schedule %s fired its tick %s: run %s", row.name, tick.isoformat(), run.run_id)
    await sync_to_async(_advance)(row, due.cursor)
    return started


def _fire_tick(
    engine: Engine,
    workflow: WorkflowDefinition,
    row: WorkflowSchedule,
    tick: datetime,
    record: Any,
    event: dict[str, Any],
    committer: Committer,
) -> Committed | None:
    """The tick's row, the run and its start, and the schedule's cursor: one transaction, or nothing."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                WorkflowScheduleTick.objects.create(schedule_id=row.pk, tick=tick, run_id=record.run_id)
        except IntegrityError:
            return None
        committed: Committed | None = async_to_sync(engine.acommit)(
            workflow, record.run_id, [event], committer=committer, create=record
        )
        _advance(row, tick)
    return committed


def _advance(row: WorkflowSchedule, cursor: datetime) -> None:
    """Move the cursor forward to ``cursor`` (never back: sweepers race) and the next fire time."""
    WorkflowSchedule.objects.filter(pk=row.pk, last_tick__lt=cursor).update(
        last_tick=cursor, next_fire_at=_next(row.cron, row.timezone, cursor), updated_at=_now()
    )


async def asweep_schedules(first: bool) -> None:
    """A worker's sweep duty: sync the declared schedules when the worker starts, then fire due ticks.

    Only where runs are stored in the database: schedules are rows there, and a
    process on another storage (``testing.use_memory_storage()``) has none to fire.
    """
    if not workflow_settings.FIRE_SCHEDULES or not isinstance(runtime.get_storage(), DjangoStorage):
        return
    if first:
        await sync_to_async(sync_declared)()
    await afire_due()


def _next(cron: str, tz: str, after: datetime) -> datetime | None:
    found = next_ticks(cron, tz, after, 1)
    return found[0] if found else None


def _grace() -> timedelta:
    return timedelta(seconds=float(workflow_settings.SCHEDULE_GRACE_SECONDS))


def _now() -> datetime:
    return timezone.now().astimezone(UTC)
