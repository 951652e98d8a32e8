"""The queries every step makes, as plain SQL on Django's connection.

A step of a run reads the run row, claims its task (evented engine) and commits
one transaction (run row, step rows, events). Through the ORM, building those
queries cost several times what the database took to run them (a run read:
about 0.9 ms through the ORM, 0.05 ms as SQL, on SQLite), so these few go as
SQL, the same text for SQLite and PostgreSQL (``INSERT ... ON CONFLICT`` and
``excluded`` are common to both). Everything else stays with the ORM.

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

_OPTIMISTIC_TRIES = 5
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
# Every write of a step row by plan is a new hand-out (or a final state): unclaimed.
_LEASE_RESET = {"lease_owner": "", "lease_until": None, "dispatched_at": None, "deliveries": 0}
_STEP_WRITE = (*_STEP_KEY, *STEP_FIELDS, *_LEASE_RESET)
_EVENT_WRITE = ("run_id", "seq", "type", "source", "payload", "created_at")


def _q(name: str) -> str:
    return str(connection.ops.quote_name(name))


@cache
def _json_columns(model: type[Model]) -> frozenset[str]:
    return frozenset(str(f.column) for f in model._meta.concrete_fields if isinstance(f, JSONField))


@cache
def _datetime_columns(model: type[Model]) -> frozenset[str]:
    return frozenset(
        str(f.column) for f in model._meta.concrete_fields if f.get_internal_type() == "DateTimeField"
    )


def _table(model: type[Model]) -> str:
    return _q(model._meta.db_table)


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


# -- runs ---------------------------------------------------------------------------
def fetch_run(run_id: str, *, lock: bool = False) -> tuple[RunRecord, int] | None:
    """The run's record and its ``last_seq``; ``lock`` holds its row to the transaction's end."""
    columns = ", ".join(_q(c) for c in _RUN_READ)
    sql = f"SELECT {columns} FROM {_table(WorkflowRun)} WHERE {_q('run_id')} = %s"
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = {c: _read(WorkflowRun, c, v) for c, v in zip(_RUN_READ, row, strict=True)}
    last_seq = int(values.pop("last_seq"))
    return RunRecord(**values), last_seq


def lock_run(run_id: str) -> tuple[int, int]:
    """Lock the run row for this transaction; its ``(version, last_seq)``."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    table, key = _table(WorkflowRun), _q("run_id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_q('version')}, {_q('last_seq')} FROM {table} WHERE {key} = %s{lock}", [run_id]
        )
        row = cursor.fetchone()
    if row is None:
        raise WorkflowError(f"Workflow run {run_id!r} not found")
    return int(row[0]), int(row[1])


def commit(
    run_id: str,
    run: dict[str, Any] | None,
    steps: Sequence[StepRecord],
    events: Sequence[dict[str, Any]],
    expected_version: int | None,
) -> list[int] | None:
    """Write one commit as a compare-and-set on ``version``; ``None`` when it did not match.

    On PostgreSQL this is one statement (a round trip costs more than the
    statement here): the run-row UPDATE takes the row lock and checks the
    version, and the step and event INSERTs, in data-modifying CTEs, write only
    if it matched. Elsewhere it is the run-row lock and three statements in a
    transaction.
    """
    if connection.vendor == "postgresql":
        return _commit_in_one_statement(run_id, run, steps, events, expected_version)
    with transaction.atomic():
        version, last_seq = lock_run(run_id)
        if expected_version is not None and version != expected_version:
            return None
        return write_locked(run_id, last_seq, run, steps, events)


def transact(run_id: str, change: Callable[[RunRecord], Change | None]) -> list[int] | None:
    """Apply ``change`` to the run's current record and commit what it returns, atomically.

    On PostgreSQL, optimistically: read the run, decide, then commit as a
    compare-and-set on the version read, deciding again if another commit came
    first (two round trips instead of six for the lock, the statements and the
    transaction). After a few lost races, and on SQLite, under the run-row lock.
    """
    if connection.vendor == "postgresql":
        for _ in range(_OPTIMISTIC_TRIES):
            record, _ = _fetch_existing(run_id, lock=False)
            decided = change(record)
            if decided is None:
                return None
            seqs = _commit_in_one_statement(run_id, *decided, expected_version=record.version)
            if seqs is not None:
                return seqs
    with transaction.atomic():
        record, last_seq = _fetch_existing(run_id, lock=True)
        decided = change(record)
        return None if decided is None else write_locked(run_id, last_seq, *decided)


def _fetch_existing(run_id: str, *, lock: bool) -> tuple[RunRecord, int]:
    found = fetch_run(run_id, lock=lock)
    if found is None:
        raise WorkflowError(f"Workflow run {run_id!r} not found")
    return found


def write_locked(
    run_id: str,
    last_seq: int,
    run: dict[str, Any] | None,
    steps: Sequence[StepRecord],
    events: Sequence[dict[str, Any]],
) -> list[int]:
    """Write a commit to a run whose row this transaction has locked, at ``last_seq``."""
    assignments, params = _run_changes(run, len(events))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table(WorkflowRun)} SET {assignments} WHERE {_q('run_id')} = %s",
            [*params, run_id],
        )
        if steps:
            sql, step_params = _steps_upsert(run_id, steps)
            cursor.execute(sql, step_params)
        if events:
            sql, event_params = _events_insert(run_id, events, last_seq)
            cursor.execute(sql, event_params)
    return list(range(last_seq + 1, last_seq + 1 + len(events)))


def _commit_in_one_statement(
    run_id: str,
    run: dict[str, Any] | None,
    steps: Sequence[StepRecord],
    events: Sequence[dict[str, Any]],
    expected_version: int | None,
) -> list[int] | None:
    assignments, params = _run_changes(run, len(events))
    where = f"{_q('run_id')} = %s"
    params.append(run_id)
    if expected_version is not None:
        where += f" AND {_q('version')} = %s"
        params.append(expected_version)
    parts = [
        f"_run AS (UPDATE {_table(WorkflowRun)} SET {assignments} WHERE {where} "
        f"RETURNING {_q('last_seq')} - {len(events)} AS base)"
    ]
    if steps:
        sql, step_params = _steps_upsert(run_id, steps, source="_run")
        parts.append(f"_steps AS ({sql})")
        params += step_params
    if events:
        sql, event_params = _events_insert(run_id, events, None)
        parts.append(f"_events AS ({sql})")
        params += event_params
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} SELECT base FROM _run", params)
        row = cursor.fetchone()
    if row is None:
        return None
    base = int(row[0])
    return list(range(base + 1, base + 1 + len(events)))


def _run_changes(run: dict[str, Any] | None, event_count: int) -> tuple[str, list[Any]]:
    """The SET clause (and its parameters) of a commit's run-row UPDATE."""
    changes = dict(run or {})
    unknown = set(changes) - set(RUN_COLUMNS)
    if unknown:
        raise WorkflowError(f"Unknown run fields: {sorted(unknown)}")
    changes["updated_at"] = timezone.now()
    changes.pop("version", None)
    sets = [f"{_q(c)} = %s" for c in changes]
    sets.append(f"{_q('version')} = {_q('version')} + 1")
    sets.append(f"{_q('last_seq')} = {_q('last_seq')} + {int(event_count)}")
    return ", ".join(sets), [_adapt(WorkflowRun, c, v) for c, v in changes.items()]


def _rows(model: type[Model], columns: Sequence[str], count: int) -> str:
    """``count`` rows of placeholders, each cast to its column's type (PostgreSQL cannot infer
    the type of a NULL in ``INSERT ... SELECT``; SQLite ignores the casts' absence)."""
    if connection.vendor == "postgresql":
        types = _column_types(model)
        row = "(" + ", ".join(f"%s::{types[c]}" for c in columns) + ")"
    else:
        row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return ", ".join([row] * count)


@cache
def _column_types(model: type[Model]) -> dict[str, str]:
    return {str(f.column): str(f.db_type(connection)) for f in model._meta.concrete_fields}


def _steps_upsert(
    run_id: str, steps: Sequence[StepRecord], source: str | None = None
) -> tuple[str, list[Any]]:
    """The upsert of step rows; with ``source``, only if that CTE returned a row."""
    latest: dict[tuple[Any, ...], StepRecord] = {}
    for step in steps:  # one commit may write the same coordinate twice; the last write wins
        latest[step.coordinate] = step
    params: list[Any] = []
    for step in latest.values():
        index = NO_INDEX if step.foreach_index is None else step.foreach_index
        params += [run_id, step.path, index, step.iteration, step.attempt]
        params += [_adapt(StepAttempt, name, getattr(step, name)) for name in STEP_FIELDS]
        params += _LEASE_RESET.values()
    columns = ", ".join(_q(c) for c in _STEP_WRITE)
    rows = _rows(StepAttempt, _STEP_WRITE, len(latest))
    if source is None:
        values = f"VALUES {rows}"
    else:
        picked = ", ".join(f"_v.{_q(c)}" for c in _STEP_WRITE)
        values = f"SELECT {picked} FROM {source}, (VALUES {rows}) AS _v ({columns})"
    updates = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in (*STEP_FIELDS, *_LEASE_RESET))
    keys = ", ".join(_q(c) for c in _STEP_KEY)
    sql = (
        f"INSERT INTO {_table(StepAttempt)} ({columns}) {values} ON CONFLICT ({keys}) DO UPDATE SET {updates}"
    )
    return sql, params


def _events_insert(
    run_id: str, events: Sequence[dict[str, Any]], last_seq: int | None
) -> tuple[str, list[Any]]:
    """The insert of events numbered from ``last_seq + 1``; from the ``_run`` CTE's base if ``None``."""
    now = _adapt(WorkflowEvent, "created_at", timezone.now())
    params: list[Any] = []
    for n, event in enumerate(events, start=1):
        payload = _adapt(WorkflowEvent, "payload", event.get("payload"))
        seq = n if last_seq is None else last_seq + n
        params += [run_id, seq, event["type"], event.get("from", "WORKFLOW"), payload, now]
    columns = ", ".join(_q(c) for c in _EVENT_WRITE)
    rows = _rows(WorkflowEvent, _EVENT_WRITE, len(events))
    if last_seq is not None:
        return f"INSERT INTO {_table(WorkflowEvent)} ({columns}) VALUES {rows}", params
    picked = ", ".join(("_run.base + _v." if c == "seq" else "_v.") + _q(c) for c in _EVENT_WRITE)
    sql = (
        f"INSERT INTO {_table(WorkflowEvent)} ({columns}) "
        f"SELECT {picked} FROM _run, (VALUES {rows}) AS _v ({columns})"
    )
    return sql, params


# -- task claims -----------------------------------------------------------------------
def claim(run_id: str, coordinate: Coordinate, worker: str, until: int, now: int) -> bool:
    """Take the lease of a running task row that is free or whose lease expired."""
    path, foreach_index, iteration, attempt = coordinate
    index = NO_INDEX if foreach_index is None else foreach_index
    where = " AND ".join(f"{_q(c)} = %s" for c in (*_STEP_KEY, "status"))
    owner, lease = _q("lease_owner"), _q("lease_until")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table(StepAttempt)} SET {owner} = %s, {lease} = %s "
            f"WHERE {where} AND ({owner} = '' OR {lease} < %s)",
            [worker, until, run_id, path, index, iteration, attempt, "running", now],
        )
        return bool(cursor.rowcount == 1)
