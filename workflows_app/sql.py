"""The queries every step makes, as plain SQL on Django's connection.

A step of a run reads the run row, claims its task (evented engine) and commits
one transaction (run row, step rows, events). Through the ORM, building those
queries cost several times what the database took to run them (a run read:
about 0.9 ms through the ORM, 0.15 ms as SQL, on SQLite), so these few go as
SQL. Everything else stays with the ORM.

On PostgreSQL a round trip costs more than these statements (about 0.4 ms on
the machines we measure on), so a commit is one statement: the run-row UPDATE
takes the row lock and checks the version, and the step upsert and the event
insert, data-modifying CTEs, write only if it matched. Their rows travel as one
JSON parameter each (``jsonb_populate_recordset`` types them by the table), which
keeps the statement's text the same from commit to commit. On SQLite a commit is
the run-row lock and three statements in a transaction.

Values are adapted the way the models' fields would: JSON through the models'
encoder (``None`` stays SQL ``NULL``, as the ORM stores it), datetimes through
the backend's operations.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.db.models import JSONField, Model
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .core.errors import WorkflowError
from .core.storage import STEP_FIELDS, Change, Coordinate, RunRecord, StepRecord
from .models import StepAttempt, WorkflowEvent, WorkflowJSONEncoder, WorkflowRun

NO_INDEX = -1  # foreach_index outside a foreach item (NULL would defeat the unique constraint)
RUN_COLUMNS = (
    "workflow_id",
    "status",
    "resource_id",
    "input",
    "run_state",
    "request_context",
    "state",
    "result",
    "error",
    "definition_hash",
    "engine",
    "generation",
    "version",
    "wake_at",
    "parent_run_id",
    "snapshot",
)
_RUN_READ = ("run_id", *RUN_COLUMNS, "last_seq", "created_at", "updated_at")
_STEP_KEY = ("run_id", "path", "foreach_index", "iteration", "attempt")
_LEASE = ("lease_owner", "lease_until", "dispatched_at", "deliveries")
_STEP_WRITE = (*_STEP_KEY, *STEP_FIELDS, *_LEASE)
_EVENT_WRITE = ("run_id", "seq", "type", "source", "payload", "created_at")


# -- names and values ------------------------------------------------------------------
@cache
def _quoted(vendor: str, *names: str) -> str:
    """Comma-separated quoted identifiers (cached: quoting goes through ``connection.ops``)."""
    return ", ".join(connection.ops.quote_name(name) for name in names)


def _q(*names: str) -> str:
    return _quoted(connection.vendor, *names)


def _table(model: type[Model]) -> str:
    return _q(model._meta.db_table)


@cache
def _json_columns(model: type[Model]) -> frozenset[str]:
    return frozenset(str(f.column) for f in model._meta.concrete_fields if isinstance(f, JSONField))


@cache
def _datetime_columns(model: type[Model]) -> frozenset[str]:
    return frozenset(
        str(f.column) for f in model._meta.concrete_fields if f.get_internal_type() == "DateTimeField"
    )


def _adapt(model: type[Model], column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in _json_columns(model):
        return connection.ops.adapt_json_value(value, WorkflowJSONEncoder)
    if column in _datetime_columns(model):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def _read(model: type[Model], column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in _json_columns(model):
        return json.loads(value) if isinstance(value, str | bytes) else value
    if column in _datetime_columns(model):
        moment = value if isinstance(value, datetime) else parse_datetime(str(value))
        if moment is not None and moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment
    return value


# -- reading and locking runs -----------------------------------------------------------
def fetch_run(run_id: str, *, lock: bool = False) -> tuple[RunRecord, int] | None:
    """The run's record and its ``last_seq``; ``lock`` holds its row to the transaction's end."""
    with connection.cursor() as cursor:
        cursor.execute(_select_run_sql(connection.vendor, _RUN_READ, lock), [run_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = {c: _read(WorkflowRun, c, v) for c, v in zip(_RUN_READ, row, strict=True)}
    last_seq = int(values.pop("last_seq"))
    return RunRecord(**values), last_seq


def _lock_run(run_id: str) -> tuple[int, int]:
    """Lock the run row for this transaction; its ``(version, last_seq)``."""
    with connection.cursor() as cursor:
        cursor.execute(_select_run_sql(connection.vendor, ("version", "last_seq"), True), [run_id])
        row = cursor.fetchone()
    if row is None:
        raise WorkflowError(f"Workflow run {run_id!r} not found")
    return int(row[0]), int(row[1])


@cache
def _select_run_sql(vendor: str, columns: tuple[str, ...], lock: bool) -> str:
    sql = f"SELECT {_q(*columns)} FROM {_table(WorkflowRun)} WHERE {_q('run_id')} = %s"
    return sql + (" FOR UPDATE" if lock and connection.features.has_select_for_update else "")


def _locked_record(run_id: str, known: RunRecord | None) -> tuple[RunRecord, int]:
    """Lock the run row; the run and its ``last_seq``, read only if ``known`` is out of date."""
    if known is not None:
        version, last_seq = _lock_run(run_id)
        if version == known.version:
            return known, last_seq
    return _fetch_existing(run_id, lock=True)


def _fetch_existing(run_id: str, *, lock: bool) -> tuple[RunRecord, int]:
    found = fetch_run(run_id, lock=lock)
    if found is None:
        raise WorkflowError(f"Workflow run {run_id!r} not found")
    return found


# -- commits ------------------------------------------------------------------------------
def commit(
    run_id: str,
    run: dict[str, Any] | None,
    steps: Sequence[StepRecord],
    events: Sequence[dict[str, Any]],
    expected_version: int | None,
) -> list[int] | None:
    """Write one commit, a compare-and-set on ``version`` if given; ``None`` when it did not match."""
    if connection.vendor == "postgresql":
        return _commit_in_one_statement(run_id, run, steps, events, expected_version)
    with transaction.atomic():
        version, last_seq = _lock_run(run_id)
        if expected_version is not None and version != expected_version:
            return None
        return _write_locked(run_id, last_seq, run, steps, events)


def transact(
    run_id: str, change: Callable[[RunRecord], Change | None], known: RunRecord | None = None
) -> list[int] | None:
    """Apply ``change`` to the run's current record and commit what it returns, atomically.

    On PostgreSQL, first optimistically: read the run (or take ``known``, the run
    as the caller's last commit left it), decide, then commit as a
    compare-and-set on the version read. That is two round trips (one with
    ``known``) and holds the row lock for one statement. If another commit came
    first, the run is busy (the items of a foreach finishing together): decide
    again under the run-row lock, where the writers queue instead of racing.
    On SQLite, always under the lock (it is in-process: no round trips to save),
    reading the run only when ``known`` is out of date.
    """
    if connection.vendor == "postgresql":
        record = known or _fetch_existing(run_id, lock=False)[0]
        decided = change(record)
        if decided is None:
            return None
        seqs = _commit_in_one_statement(run_id, *decided, expected_version=record.version)
        if seqs is not None:
            return seqs
        known = None  # another commit came first: what we knew is out of date
    with transaction.atomic():
        record, last_seq = _locked_record(run_id, known)
        decided = change(record)
        if decided is None:
            return None
        if connection.vendor == "postgresql":
            return _commit_in_one_statement(run_id, *decided, expected_version=record.version)
        return _write_locked(run_id, last_seq, *decided)


def _write_locked(
    run_id: str,
    last_seq: int,
    run: dict[str, Any] | None,
    steps: Sequence[StepRecord],
    events: Sequence[dict[str, Any]],
) -> list[int]:
    """Write a commit to a run whose row this transaction has locked, at ``last_seq``."""
    columns, params = _run_changes(run)
    with connection.cursor() as cursor:
        cursor.execute(_run_update(connection.vendor, columns, len(events), False), [*params, run_id])
        if steps:
            rows = _step_rows(run_id, steps)
            cursor.execute(_steps_sql(connection.vendor, len(rows)), _flat(StepAttempt, _STEP_WRITE, rows))
        if events:
            rows = _event_rows(run_id, events, last_seq)
            cursor.execute(
                _events_sql(connection.vendor, len(rows)), _flat(WorkflowEvent, _EVENT_WRITE, rows)
            )
    return list(range(last_seq + 1, last_seq + 1 + len(events)))


def _commit_in_one_statement(
    run_id: str,
    run: dict[str, Any] | None,
    steps: Sequence[StepRecord],
    events: Sequence[dict[str, Any]],
    expected_version: int | None,
) -> list[int] | None:
    columns, params = _run_changes(run)
    params.append(run_id)
    if expected_version is not None:
        params.append(expected_version)
    if steps:
        params.append(_json_rows(_STEP_WRITE, _step_rows(run_id, steps)))
    if events:
        params.append(_json_rows(_EVENT_WRITE, _event_rows(run_id, events, 0)))
    sql = _one_statement(columns, len(events), expected_version is not None, bool(steps), bool(events))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    base = int(row[0])
    return list(range(base + 1, base + 1 + len(events)))


def _run_changes(run: dict[str, Any] | None) -> tuple[tuple[str, ...], list[Any]]:
    """The run columns a commit sets (besides version and last_seq) and their values."""
    changes = {key: value for key, value in (run or {}).items() if key != "version"}
    unknown = set(changes) - set(RUN_COLUMNS)
    if unknown:
        raise WorkflowError(f"Unknown run fields: {sorted(unknown)}")
    changes["updated_at"] = timezone.now()
    return tuple(changes), [_adapt(WorkflowRun, c, v) for c, v in changes.items()]


def _step_rows(run_id: str, steps: Sequence[StepRecord]) -> list[tuple[Any, ...]]:
    """One value per ``_STEP_WRITE`` column per row; the last write of a coordinate wins.

    A row written by plan is a new hand-out (or a final state): unclaimed, unless
    the commit claims it for the worker that will run it (``claimed_by``).
    """
    latest = {step.coordinate: step for step in steps}
    return [
        (
            run_id,
            step.path,
            NO_INDEX if step.foreach_index is None else step.foreach_index,
            step.iteration,
            step.attempt,
            *(getattr(step, name) for name in STEP_FIELDS),
            step.claimed_by,
            step.claimed_until if step.claimed_by else None,
            None,
            0,
        )
        for step in latest.values()
    ]


def _event_rows(run_id: str, events: Sequence[dict[str, Any]], last_seq: int) -> list[tuple[Any, ...]]:
    now = timezone.now()
    return [
        (run_id, last_seq + n, e["type"], e.get("from", "WORKFLOW"), e.get("payload"), now)
        for n, e in enumerate(events, start=1)
    ]


def _flat(model: type[Model], columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[Any]:
    """The rows' values in one list, adapted to their columns: the parameters of a VALUES list."""
    adapted = _adapted_positions(model, columns)
    values: list[Any] = []
    for row in rows:
        values += [_adapt(model, columns[i], v) if i in adapted else v for i, v in enumerate(row)]
    return values


@cache
def _adapted_positions(model: type[Model], columns: tuple[str, ...]) -> frozenset[int]:
    """Where in ``columns`` a value needs adapting (JSON, datetimes); the rest go as they are."""
    special = _json_columns(model) | _datetime_columns(model)
    return frozenset(i for i, c in enumerate(columns) if c in special)


def _json_rows(columns: Sequence[str], rows: list[tuple[Any, ...]]) -> str:
    """The rows as one JSON array of objects, for ``jsonb_populate_recordset``."""
    return json.dumps([dict(zip(columns, row, strict=True)) for row in rows], cls=WorkflowJSONEncoder)


# -- statement texts (cached by shape) ---------------------------------------------------------
@cache
def _run_update(vendor: str, columns: tuple[str, ...], event_count: int, check_version: bool) -> str:
    sets = [f"{_q(c)} = %s" for c in columns]
    sets += [f"{_q('version')} = {_q('version')} + 1", f"{_q('last_seq')} = {_q('last_seq')} + {event_count}"]
    where = f"{_q('run_id')} = %s" + (f" AND {_q('version')} = %s" if check_version else "")
    return f"UPDATE {_table(WorkflowRun)} SET {', '.join(sets)} WHERE {where}"


def _upsert_tail() -> str:
    updates = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in (*STEP_FIELDS, *_LEASE))
    return f"ON CONFLICT ({_q(*_STEP_KEY)}) DO UPDATE SET {updates}"


def _placeholders(width: int, count: int) -> str:
    return ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * count)


@cache
def _steps_sql(vendor: str, count: int) -> str:
    values = _placeholders(len(_STEP_WRITE), count)
    return f"INSERT INTO {_table(StepAttempt)} ({_q(*_STEP_WRITE)}) VALUES {values} {_upsert_tail()}"


@cache
def _events_sql(vendor: str, count: int) -> str:
    values = _placeholders(len(_EVENT_WRITE), count)
    return f"INSERT INTO {_table(WorkflowEvent)} ({_q(*_EVENT_WRITE)}) VALUES {values}"


@cache
def _one_statement(
    columns: tuple[str, ...], event_count: int, check_version: bool, steps: bool, events: bool
) -> str:
    """PostgreSQL: the whole commit as one statement (see the module's docstring)."""
    update = _run_update("postgresql", columns, event_count, check_version)
    parts = [f"_run AS ({update} RETURNING {_q('last_seq')} - {event_count} AS base)"]
    if steps:
        rows = f"jsonb_populate_recordset(NULL::{_table(StepAttempt)}, %s::jsonb) AS _v"
        picked = ", ".join(f"_v.{_q(c)}" for c in _STEP_WRITE)
        insert = f"INSERT INTO {_table(StepAttempt)} ({_q(*_STEP_WRITE)}) SELECT {picked} FROM _run, {rows}"
        parts.append(f"_steps AS ({insert} {_upsert_tail()})")
    if events:
        rows = f"jsonb_populate_recordset(NULL::{_table(WorkflowEvent)}, %s::jsonb) AS _v"
        picked = ", ".join(("_run.base + _v." if c == "seq" else "_v.") + _q(c) for c in _EVENT_WRITE)
        insert = (
            f"INSERT INTO {_table(WorkflowEvent)} ({_q(*_EVENT_WRITE)}) SELECT {picked} FROM _run, {rows}"
        )
        parts.append(f"_events AS ({insert})")
    return f"WITH {', '.join(parts)} SELECT base FROM _run"


# -- task claims -----------------------------------------------------------------------
def claim(run_id: str, coordinate: Coordinate, worker: str, until: int, now: int) -> bool:
    """Take the lease of a running task row that is free or whose lease expired."""
    path, foreach_index, iteration, attempt = coordinate
    index = NO_INDEX if foreach_index is None else foreach_index
    with connection.cursor() as cursor:
        cursor.execute(
            _claim_sql(connection.vendor), [worker, until, run_id, path, index, iteration, attempt, now]
        )
        return bool(cursor.rowcount == 1)


@cache
def _claim_sql(vendor: str) -> str:
    where = " AND ".join(f"{_q(c)} = %s" for c in _STEP_KEY)
    owner, lease = _q("lease_owner"), _q("lease_until")
    return (
        f"UPDATE {_table(StepAttempt)} SET {owner} = %s, {lease} = %s "
        f"WHERE {where} AND {_q('status')} = 'running' AND ({owner} = '' OR {lease} < %s)"
    )
