"""Cron schedules: what a schedule is, and which of its ticks are due at a given instant.

Pure: the instant comes in as an argument (the caller's clock, or a test's), and
cron expressions are read by ``cronsim``, never by a parser of our own. A tick is
the nominal instant the cron expression names, in the schedule's time zone; the
run it starts gets that tick, not the moment a worker happened to fire it.

Catch-up decides what happens to ticks that passed while nothing fired them (no
worker was running, or all were busy for longer than ``grace``):

- ``"none"``: they are dropped; only ticks fired within ``grace`` of their time run.
- ``"one"``: one run makes up for all of them (the latest missed tick), plus the ticks on time.
- ``"all"``: every one of them runs, oldest first, a batch per sweep.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .errors import PayloadError, WorkflowDefinitionError
from .payloads import plain

CatchUp = Literal["none", "one", "all"]
CATCH_UP_POLICIES: tuple[str, ...] = get_args(CatchUp)
# A tick fired later than this after its time counts as missed (see the catch-up policies).
DEFAULT_GRACE = timedelta(seconds=60)
# Ticks of one schedule fired by one sweep; the rest of a long catch-up goes to the next sweeps.
DEFAULT_BATCH = 100


class ScheduleError(WorkflowDefinitionError):
    """A schedule that cannot work: a bad cron expression, time zone, catch-up policy or input."""


class ScheduleExistsError(ScheduleError):
    """A schedule of that name exists already."""


class ScheduleDeclaredError(ScheduleError):
    """The schedule is declared in the workflow's code: change or remove it there (pausing works)."""


class ScheduleNotFoundError(ScheduleError, LookupError):
    """No schedule of that name."""


@dataclass(frozen=True)
class Schedule:
    """When a workflow starts on its own: a cron expression read in ``timezone``, with ``input``.

    Checked when made, so that a typo fails at import time, not in a worker at 3 a.m.
    ``name`` tells two schedules of one workflow apart (the default is the workflow's id).
    """

    cron: str
    timezone: str = "UTC"
    input: Any = None
    catch_up: CatchUp = "none"
    name: str = ""
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", zone_of(self.timezone))
        check_cron(self.cron)
        if self.catch_up not in CATCH_UP_POLICIES:
            raise ScheduleError(
                f"Unknown catch_up {self.catch_up!r}; choose one of {', '.join(CATCH_UP_POLICIES)}"
            )
        try:
            object.__setattr__(self, "input", plain(self.input, what="the schedule's input"))
        except PayloadError as exc:
            raise ScheduleError(str(exc)) from None

    def next_ticks(self, after: datetime, count: int = 5) -> list[datetime]:
        return next_ticks(self.cron, self.timezone, after, count)


def zone_of(name: str) -> ZoneInfo:
    """The IANA time zone called ``name`` (``Europe/Paris``), or a clear error."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ScheduleError(f"Unknown time zone {name!r}; use an IANA name such as 'Europe/Paris'") from None


def check_cron(expression: str) -> None:
    """Raise :class:`ScheduleError` unless ``expression`` is a cron expression cronsim reads."""
    try:
        CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except (CronSimError, TypeError, ValueError) as exc:
        raise ScheduleError(f"Invalid cron expression {expression!r}: {exc}") from None


def _forward(expression: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """Ticks strictly after ``after``, in UTC, oldest first."""
    for tick in CronSim(expression, after.astimezone(zone_of(timezone))):
        yield tick.astimezone(UTC)


def _backward(expression: str, timezone: str, until: datetime) -> Iterator[datetime]:
    """Ticks at or before ``until``, in UTC, newest first."""
    # cronsim walks back from strictly before its start: start a microsecond later to include ``until``.
    start = (until + timedelta(microseconds=1)).astimezone(zone_of(timezone))
    for tick in CronSim(expression, start, reverse=True):
        yield tick.astimezone(UTC)


def next_ticks(expression: str, timezone: str, after: datetime, count: int = 5) -> list[datetime]:
    """The next ``count`` ticks strictly after ``after`` (aware datetimes in UTC)."""
    return list(islice(_forward(expression, timezone, after), count))


@dataclass(frozen=True)
class Due:
    """What a sweep does for one schedule: fire ``ticks``, then remember ``cursor`` as dealt with."""

    ticks: list[datetime]
    cursor: datetime


def due_ticks(
    expression: str,
    timezone: str,
    *,
    since: datetime,
    now: datetime,
    catch_up: str,
    grace: timedelta = DEFAULT_GRACE,
    batch: int = DEFAULT_BATCH,
) -> Due:
    """The ticks in ``(since, now]`` to fire now under ``catch_up``, oldest first (at most ``batch``).

    ``since`` is the last tick the schedule dealt with (fired or dropped); the
    cursor returned is the new one. Work is bounded whatever the gap: ``"all"``
    walks forward at most ``batch`` ticks, the others walk back from ``now``
    through the ticks on time and one more.
    """
    if catch_up == "all":
        ticks = [tick for tick in islice(_forward(expression, timezone, since), batch) if tick <= now]
        return Due(ticks, ticks[-1] if ticks else since)
    on_time: list[datetime] = []
    missed: list[datetime] = []
    for tick in _backward(expression, timezone, now):
        if tick <= since:
            break
        if now - tick > grace:
            missed.append(tick)
            break
        on_time.append(tick)
        if len(on_time) >= batch:
            break
    latest = (on_time or missed or [since])[0]
    chosen = on_time + (missed if catch_up == "one" else [])
    return Due(sorted(chosen), latest)
