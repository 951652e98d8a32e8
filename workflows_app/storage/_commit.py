"""A commit: the run row, its step rows, its events and its task rows, written atomically.

On PostgreSQL a round trip costs more than these statements (about 0.4 ms on the
machines we measure on), so a commit is ONE statement: the run-row UPDATE (or
INSERT) takes the row lock and checks the version, and everything else, as
data-modifying CTEs, writes only if it matched. The claims a commit completes are
locked (``FOR UPDATE``) and counted in the same statement, so a commit whose
lease was taken back meanwhile writes nothing. Rows travel as one JSON parameter
per table, which keeps the statement's text the same from commit to commit.
If another commit of the run came first, the run is busy (the items of a foreach
finishing together): the commit is decided again under the run-row lock, where
writers queue instead of racing. On SQLite (one writer at a time, in process) a
commit is a short IMMEDIATE transaction of a few statements.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ..core.errors import ResumeConflictError, RunExistsError, RunNotFoundError
from ..core.storage import Change, Claim, LeaseLost, RunRecord
from ._events import write_waits
from ._inputs import INPUTS
from ._postgres import one_statement
from ._rows import (
    EVENT_WRITE,
    EVENTS,
    STEP_WRITE,
    Write,
    event_rows,
    events_sql,
    flat,
    gate_values,
    run_changes,
    run_update,
    step_rows,
    steps_sql,
    task_columns,
)
from ._sql import (
    RUN_COLUMNS,
    RUN_READ,
    RUNS,
    STEPS,
    TASKS,
    adapt,
    now_sql,
    q,
    read,
    table,
)


# -- reading the run ------------------------------------------------------------------------------
def fetch_run(run_id: str, *, lock: bool = False) -> tuple[RunRecord, int] | None:
    """The run's record and its ``last_seq``; ``lock`` holds its row to the transaction's end.

    A large input this process has read before is not sent again (``_inputs``).
    """
    held = INPUTS.get(run_id)
    since = adapt(RUNS, "created_at", held.created_at) if held is not None else None
    with connection.cursor() as cursor:
        cursor.execute(_select_run(connection.vendor, lock), [since, run_id])
        row = cursor.fetchone()
    if row is None:
        return None
    stored = dict(zip(RUN_READ, row, strict=True))
    values = {c: read(RUNS, c, v) for c, v in stored.items() if c != "input"}
    values["input"] = INPUTS.input_of(run_id, held, values["created_at"], stored["input"])
    last_seq = int(values.pop("last_seq"))
    fields = {name: values.pop(column) for name, column in RUN_COLUMNS.items()}
    return RunRecord(**values, **fields), last_seq


@cache
def _select_run(vendor: str, lock: bool) -> str:
    """The run's columns; its input only if it is not the one held (the parameter: its ``created_at``)."""
    unless_held = f"CASE WHEN {q('created_at')} = %s THEN NULL ELSE {q('input')} END"
    columns = ", ".join(unless_held if column == "input" else q(column) for column in RUN_READ)
    sql = f"SELECT {columns} FROM {table(RUNS)} WHERE {q('run_id')} = %s"
    return sql + (" FOR UPDATE" if lock and connection.features.has_select_for_update else "")


def _fetch_existing(run_id: str, *, lock: bool) -> tuple[RunRecord, int]:
    found = fetch_run(run_id, lock=lock)
    if found is None:
        raise RunNotFoundError(f"Workflow run {run_id!r} not found")
    return found


# -- the commit ---------------------------------------------------------------------------------------
def transact(
    run_id: str,
    change: Callable[[RunRecord], Change | None],
    *,
    known: RunRecord | None,
    create: RunRecord | None,
    fences: Sequence[Claim],
    expected_version: int | None,
    now: int | None,
) -> list[int] | None:
    """Apply ``change`` to the run as committed and write what it returns (see ``Storage.atransact``)."""
    if create is not None:
        return _create(run_id, change, create, now)
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        record = known or _fetch_existing(run_id, lock=False)[0]
        _check_version(record, expected_version)
        decided = change(record)
        if decided is None:
            drop_fenced(fences, now)
            return None
        seqs = _one_statement_with_waits(Write.of(run_id, decided, fences, now), record.version, decided)
        if seqs is not None:
            return seqs
        _raise_lost(fences, now)  # a fence, or another commit came first: decide again, locked
        if expected_version is not None:
            raise ResumeConflictError()
    return _locked(run_id, change, known, fences, expected_version, now)


def _locked(
    run_id: str,
    change: Callable[[RunRecord], Change | None],
    known: RunRecord | None,
    fences: Sequence[Claim],
    expected_version: int | None,
    now: int | None,
) -> list[int] | None:
    """Under the run-row lock: no other commit of the run can come first.

    On SQLite the transaction holds the database's write lock from its
    ``BEGIN IMMEDIATE``, so the claims it completes are checked by the DELETE
    that removes them (a claim not deleted was lost: ``LeaseLost`` rolls back),
    and a run not known is read with its ``last_seq`` in one statement.
    """
    sqlite = connection.vendor == "sqlite"
    with transaction.atomic():
        record, last_seq = _current(run_id, known, read_once=sqlite)
        _check_version(record, expected_version)
        if sqlite:
            _take_fenced(fences)
        else:
            _raise_lost(fences, now, lock=True)
        decided = change(record)
        if decided is None:
            if not sqlite:
                drop_fenced(fences, now)
            return None
        write = Write.of(run_id, decided, () if sqlite else fences, now)
        write_waits(run_id, decided.waits)
        if connection.vendor == "postgresql":
            return one_statement(write, version=record.version, create=False)
        return _statements(write, last_seq, create=False)


def _current(run_id: str, known: RunRecord | None, *, read_once: bool) -> tuple[RunRecord, int]:
    """The run as committed and its ``last_seq``, its row locked: ``known`` if it is still current."""
    if known is None and read_once:
        return _fetch_existing(run_id, lock=False)
    version, last_seq = _lock_run(run_id)
    if known is not None and known.version == version:
        return known, last_seq
    return _fetch_existing(run_id, lock=False)[0], last_seq


def _one_statement_with_waits(write: Write, version: int, decided: Change) -> list[int] | None:
    """The one statement of a commit; with the waits it changed, in a transaction with them."""
    if decided.waits is None:
        return one_statement(write, version=version, create=False)
    with transaction.atomic():
        seqs = one_statement(write, version=version, create=False)
        if seqs is not None:
            write_waits(write.run_id, decided.waits)
        return seqs


def _create(
    run_id: str, change: Callable[[RunRecord], Change | None], create: RunRecord, now: int | None
) -> list[int] | None:
    decided = change(create)
    if decided is None:
        return None
    write = Write.of(run_id, decided, (), now)
    write.run = {**{name: getattr(create, name) for name in RUN_COLUMNS}, **write.run}
    try:
        with transaction.atomic():  # a savepoint inside the caller's transaction, if there is one
            if connection.vendor == "postgresql":
                seqs = one_statement(write, version=None, create=True)
            else:
                seqs = _statements(write, 0, create=True)
            write_waits(run_id, decided.waits)
            return seqs
    except IntegrityError as exc:
        raise RunExistsError(f"A workflow run with id {run_id!r} already exists") from exc


def _check_version(record: RunRecord, expected: int | None) -> None:
    if expected is not None and record.version != expected:
        raise ResumeConflictError()


@cache
def _lock_run_sql(vendor: str) -> str:
    sql = f"SELECT {q('version', 'last_seq')} FROM {table(RUNS)} WHERE {q('run_id')} = %s"
    return sql + (" FOR UPDATE" if connection.features.has_select_for_update else "")


def _lock_run(run_id: str) -> tuple[int, int]:
    """Lock the run row for this transaction; its ``(version, last_seq)``."""
    with connection.cursor() as cursor:
        cursor.execute(_lock_run_sql(connection.vendor), [run_id])
        row = cursor.fetchone()
    if row is None:
        raise RunNotFoundError(f"Workflow run {run_id!r} not found")
    return int(row[0]), int(row[1])


# -- fences ---------------------------------------------------------------------------------------------
def held(fences: Sequence[Claim], *, lock: bool = False) -> set[tuple[str, str, int, int]]:
    """The fences whose rows are still held (running, same lease number)."""
    if not fences:
        return set()
    where, params = fence_match(fences)
    sql = (
        f"SELECT {q('run_id', 'key', 'handout', 'lease')} FROM {table(TASKS)} "
        f"WHERE {q('status')} = 'running' AND ({where})"
    )
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in cursor.fetchall()}


def _raise_lost(fences: Sequence[Claim], now: int | None, *, lock: bool = False) -> None:
    kept = held(fences, lock=lock)
    lost = [claim for claim in fences if claim.fence not in kept]
    if lost:
        raise LeaseLost(lost)


def fence_match(fences: Sequence[Claim]) -> tuple[str, list[Any]]:
    """A WHERE condition matching exactly the rows of these claims at their lease numbers."""
    params: list[Any] = []
    for claim in fences:
        params += [claim.run_id, claim.key, claim.handout, claim.lease]
    return _fence_match_sql(connection.vendor, len(fences)), params


@cache
def _fence_match_sql(vendor: str, count: int) -> str:
    one = f"({q('run_id')} = %s AND {q('key')} = %s AND {q('handout')} = %s AND {q('lease')} = %s)"
    return " OR ".join([one] * count)


def _take_fenced(fences: Sequence[Claim]) -> None:
    """Delete the rows of the claims a commit completes; ``LeaseLost`` if one of them is not held.

    The one statement both checks and completes them (SQLite, under its write lock).
    """
    if not fences:
        return
    _, params = fence_match(fences)
    with connection.cursor() as cursor:
        cursor.execute(_take_fenced_sql(connection.vendor, len(fences)), params)
        taken = {(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in cursor.fetchall()}
    lost = [claim for claim in fences if claim.fence not in taken]
    if lost:
        raise LeaseLost(lost)


@cache
def _take_fenced_sql(vendor: str, count: int) -> str:
    where = _fence_match_sql(vendor, count)
    returning = q("run_id", "key", "handout", "lease")
    return f"DELETE FROM {table(TASKS)} WHERE {q('status')} = 'running' AND ({where}) RETURNING {returning}"


def drop_fenced(fences: Sequence[Claim], now: int | None) -> None:
    """Delete the rows of claims still held (running, or canceled while they ran)."""
    if not fences:
        return
    where, params = fence_match(fences)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table(TASKS)} WHERE {q('status')} <> 'queued' AND ({where})", params)


# -- SQLite: a few statements in the transaction ------------------------------------------------------
def _statements(write: Write, last_seq: int, *, create: bool) -> list[int]:
    with connection.cursor() as cursor:
        _run_statement(cursor, write, create, len(write.events))
        if write.fences:
            where, params = fence_match(write.fences)
            cursor.execute(f"DELETE FROM {table(TASKS)} WHERE {where}", params)
        if write.reset is not None:
            _reset_statements(cursor, write.run_id, write.reset)
        if write.steps:
            rows = step_rows(write.run_id, write.steps)
            cursor.execute(steps_sql(connection.vendor, len(rows)), flat(STEPS, STEP_WRITE, rows))
        if write.events:
            rows = event_rows(write.run_id, write.events, last_seq)
            cursor.execute(events_sql(connection.vendor, len(rows)), flat(EVENTS, EVENT_WRITE, rows))
        if write.tasks:
            _insert_tasks(cursor, write)
    return list(range(last_seq + 1, last_seq + 1 + len(write.events)))


def _run_statement(cursor: Any, write: Write, create: bool, event_count: int) -> None:
    columns, params = run_changes(write.run)
    if create:
        names = (*columns, "run_id", "version", "last_seq", "created_at")
        sql = f"INSERT INTO {table(RUNS)} ({q(*names)}) VALUES ({', '.join(['%s'] * len(names))})"
        cursor.execute(
            sql, [*params, write.run_id, 1, event_count, adapt(RUNS, "created_at", timezone.now())]
        )
        return
    cursor.execute(run_update(columns, event_count, False), [*params, write.run_id])


def _reset_statements(cursor: Any, run_id: str, reset: str) -> None:
    tasks, run_col, status = table(TASKS), q("run_id"), q("status")
    if reset == "cancel":
        cursor.execute(
            f"UPDATE {tasks} SET {status} = 'canceled' WHERE {run_col} = %s AND {status} = 'running'",
            [run_id],
        )
        cursor.execute(f"DELETE FROM {tasks} WHERE {run_col} = %s AND {status} = 'queued'", [run_id])
    else:
        cursor.execute(f"DELETE FROM {tasks} WHERE {run_col} = %s", [run_id])


@cache
def _insert_tasks_sql(vendor: str, count: int) -> str:
    now = now_sql(vendor)
    one = (
        f"(%s, %s, %s, %s, %s, CASE WHEN %s = '' THEN 'queued' ELSE 'running' END, {now} + %s, %s, "
        f"CASE WHEN %s = '' THEN 0 ELSE 1 END, CASE WHEN %s = '' THEN NULL ELSE {now} + %s END, 0, {now}, "
        "%s, %s, %s, %s)"
    )
    return f"INSERT INTO {table(TASKS)} ({task_columns()}) VALUES {', '.join([one] * count)}"


def _insert_tasks(cursor: Any, write: Write) -> None:
    params: list[Any] = []
    for task in write.tasks:
        params += [
            write.run_id,
            task.key,
            task.handout,
            task.kind,
            task.queue,
            task.owner,
            write.now,
            task.delay_ms,
        ]
        params += [task.owner, task.owner, task.owner, write.now, task.lease_ms, write.now]
        params += gate_values(task.gate)
    cursor.execute(_insert_tasks_sql(connection.vendor, len(write.tasks)), params)


# -- a commit without plan: snapshots, a step's own events ---------------------------------------------
def commit(
    run_id: str, run: dict[str, Any] | None, events: Sequence[dict[str, Any]], expected_version: int | None
) -> list[int]:
    """Change run columns and append events, a compare-and-set on ``version`` if given."""
    write = Write(run_id, dict(run or {}), (), events, (), None, (), None)
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        seqs = one_statement(write, version=expected_version, create=False)
    else:
        with transaction.atomic():
            version, last_seq = _lock_run(run_id)
            seqs = (
                None
                if expected_version not in (None, version)
                else _statements(write, last_seq, create=False)
            )
    if seqs is None:
        if fetch_run(run_id) is None:
            raise RunNotFoundError(f"Workflow run {run_id!r} not found")
        raise ResumeConflictError()
    return seqs
