"""What one commit writes, as the parameters of its statements: shared by both backends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.utils import timezone

from ..core.errors import WorkflowError
from ..core.limits import Gate
from ..core.storage import STEP_FIELDS, Change, Claim, StepRecord, TaskRow, event_source
from ..models import WorkflowEvent
from ._sql import (
    GATE,
    NO_INDEX,
    RUN_COLUMNS,
    RUNS,
    STEP_KEY,
    STEPS,
    adapt_values,
    placeholders,
    q,
    table,
)

STEP_WRITE = (*STEP_KEY, *STEP_FIELDS)
EVENT_WRITE = ("run_id", "seq", "type", "source", "payload", "created_at")
TASK_WRITE = ("key", "handout", "kind", "queue", "delay_ms", "owner", "lease_ms", *GATE)
EVENTS = WorkflowEvent


@dataclass
class Write:
    """Everything one commit writes, resolved to parameters."""

    run_id: str
    run: dict[str, Any]
    steps: Sequence[StepRecord]
    events: Sequence[dict[str, Any]]
    tasks: Sequence[TaskRow]
    reset: str | None
    fences: Sequence[Claim]
    now: int | None  # a given clock's reading; None: the database's clock

    @classmethod
    def of(cls, run_id: str, change: Change, fences: Sequence[Claim], now: int | None) -> Write:
        run = dict(change.run)
        return cls(run_id, run, change.steps, change.events, change.tasks, change.reset, fences, now)


def run_changes(run: dict[str, Any]) -> tuple[tuple[str, ...], list[Any]]:
    """The run columns a commit sets (besides version and last_seq) and their values."""
    changes = {key: value for key, value in run.items() if key != "version"}
    unknown = set(changes) - set(RUN_COLUMNS)
    if unknown:
        raise WorkflowError(f"Unknown run fields: {sorted(unknown)}")
    columns = {RUN_COLUMNS[key]: value for key, value in changes.items()}
    columns["updated_at"] = timezone.now()
    names = tuple(columns)
    return names, adapt_values(RUNS, names, [tuple(columns.values())])


@cache
def run_update(columns: tuple[str, ...], event_count: int, check_version: bool) -> str:
    sets = [f"{q(c)} = %s" for c in columns]
    sets += [f"{q('version')} = {q('version')} + 1", f"{q('last_seq')} = {q('last_seq')} + {event_count}"]
    where = f"{q('run_id')} = %s" + (f" AND {q('version')} = %s" if check_version else "")
    return f"UPDATE {table(RUNS)} SET {', '.join(sets)} WHERE {where}"


def step_rows(run_id: str, steps: Sequence[StepRecord]) -> list[tuple[Any, ...]]:
    """One value per written column per row; the last write of a coordinate wins."""
    latest = {step.coordinate: step for step in steps}
    return [
        (
            run_id,
            step.path,
            NO_INDEX if step.foreach_index is None else step.foreach_index,
            step.iteration,
            step.attempt,
            *(getattr(step, name) for name in STEP_FIELDS),
        )
        for step in latest.values()
    ]


def event_rows(run_id: str, events: Sequence[dict[str, Any]], last_seq: int) -> list[tuple[Any, ...]]:
    now = timezone.now()
    return [
        (run_id, last_seq + n, e["type"], event_source(e), e.get("payload"), now)
        for n, e in enumerate(events, start=1)
    ]


def task_rows(tasks: Sequence[TaskRow]) -> list[tuple[Any, ...]]:
    return [
        (t.key, t.handout, t.kind, t.queue, t.delay_ms, t.owner, t.lease_ms, *gate_values(t.gate))
        for t in tasks
    ]


def gate_values(gate: Gate) -> tuple[str, int, int, int]:
    """A row's gate in the order of ``GATE`` (``dataclasses.astuple`` deep-copies, and costs more)."""
    return (gate.limit_key, gate.limit_n, gate.rate_n, gate.rate_ms)


def flat(model: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[Any]:
    """The rows' values in one list, adapted to their columns: the parameters of a VALUES list."""
    return adapt_values(model, columns, rows)


def upsert_tail() -> str:
    updates = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in STEP_FIELDS)
    return f"ON CONFLICT ({q(*STEP_KEY)}) DO UPDATE SET {updates}"


@cache
def steps_sql(vendor: str, count: int) -> str:
    values = placeholders(len(STEP_WRITE), count)
    return f"INSERT INTO {table(STEPS)} ({q(*STEP_WRITE)}) VALUES {values} {upsert_tail()}"


@cache
def events_sql(vendor: str, count: int) -> str:
    values = placeholders(len(EVENT_WRITE), count)
    return f"INSERT INTO {table(EVENTS)} ({q(*EVENT_WRITE)}) VALUES {values}"


def task_columns() -> str:
    return q(
        "run_id", "key", "handout", "kind", "queue", "status", "available_at", "owner", "lease",
        "lease_until", "deliveries", "created_at", *GATE,
    )  # fmt: skip
