"""PostgreSQL: a commit as ONE statement (see :mod:`._commit`)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import connection
from django.utils import timezone

from ..core.errors import WorkflowError
from ..core.storage import Claim
from ._rows import (
    EVENT_WRITE,
    EVENTS,
    STEP_WRITE,
    TASK_WRITE,
    Write,
    event_rows,
    run_changes,
    run_update,
    step_rows,
    task_columns,
    task_rows,
    upsert_tail,
)
from ._sql import RUNS, STEPS, TASKS, adapt, json_rows, now_sql, q, table


def one_statement(write: Write, *, version: int | None, create: bool) -> list[int] | None:
    """The commit as one statement; ``None`` when the version or a fence did not match."""
    columns, run_params = run_changes(write.run)
    if create:
        run_params += [write.run_id, len(write.events), adapt(RUNS, "created_at", timezone.now())]
    else:
        run_params += [write.run_id, *([] if version is None else [version])]
    fenced = bool(write.fences)
    parts: list[str] = [_now_cte()]
    params: list[Any] = [write.now]
    if fenced:
        parts.append(_fence_cte())
        params.append(_fence_json(write.fences))
    parts.append(_run_cte(columns, len(write.events), create, version is not None, fenced=fenced))
    params += [*run_params, *([len(write.fences)] if fenced else [])]
    if fenced:
        parts.append(_done_cte())
    if write.reset is not None:
        resets = _reset_ctes(write.reset, fenced)
        parts.extend(resets)
        params += [write.run_id] * len(resets)
    if write.steps:
        parts.append(_steps_cte())
        params.append(json_rows(STEP_WRITE, step_rows(write.run_id, write.steps)))
    if write.events:
        parts.append(_events_cte())
        params.append(json_rows(EVENT_WRITE, event_rows(write.run_id, write.events, 0)))
    if write.tasks:
        parts.append(_tasks_cte())
        params += [write.run_id, json_rows(TASK_WRITE, task_rows(write.tasks))]
    sql = f"WITH {', '.join(parts)} SELECT base FROM _run"
    with connection.cursor() as cursor:
        cursor.execute(sql, _order(sql, params))
        row = cursor.fetchone()
    if row is None:
        return None
    base = int(row[0])
    return list(range(base + 1, base + 1 + len(write.events)))


def _order(sql: str, params: list[Any]) -> list[Any]:
    """The parameters, checked against the statement's placeholders (a mismatch is a bug here)."""
    if sql.count("%s") != len(params):
        raise WorkflowError(f"Internal error: {sql.count('%s')} placeholders for {len(params)} values")
    return params


@cache
def _now_cte() -> str:
    return f"_now AS (SELECT {now_sql('postgresql')} AS ms)"


@cache
def _fence_cte() -> str:
    match = (
        f"({q('run_id')}, {q('key')}, {q('handout')}, {q('lease')}) IN "
        "(SELECT f.run_id, f.key, f.handout, f.lease FROM jsonb_to_recordset(%s::jsonb) "
        "AS f(run_id text, key text, handout bigint, lease bigint))"
    )
    running = f"{q('status')} = 'running'"
    return f"_fence AS (SELECT {q('id')} FROM {table(TASKS)} WHERE {running} AND {match} FOR UPDATE)"


def _fence_json(fences: Sequence[Claim]) -> str:
    rows = [(c.run_id, c.key, c.handout, c.lease) for c in fences]
    return json_rows(("run_id", "key", "handout", "lease"), rows)


@cache
def _run_cte(
    columns: tuple[str, ...], event_count: int, create: bool, check_version: bool, *, fenced: bool
) -> str:
    if create:
        names = (*columns, "run_id", "last_seq", "created_at", "version")
        values = ", ".join(["%s"] * (len(names) - 1))
        return f"_run AS (INSERT INTO {table(RUNS)} ({q(*names)}) VALUES ({values}, 1) RETURNING 0 AS base)"
    update = run_update(columns, event_count, check_version)
    if fenced:
        update += " AND (SELECT count(*) FROM _fence) = %s"
    return f"_run AS ({update} RETURNING {q('last_seq')} - {event_count} AS base)"


@cache
def _done_cte() -> str:
    fenced = f"{q('id')} IN (SELECT {q('id')} FROM _fence)"
    return f"_done AS (DELETE FROM {table(TASKS)} WHERE {fenced} AND EXISTS (SELECT 1 FROM _run))"


@cache
def _reset_ctes(reset: str, fenced: bool) -> tuple[str, ...]:
    tasks, run_col, status = table(TASKS), q("run_id"), q("status")
    mine = f" AND {q('id')} NOT IN (SELECT {q('id')} FROM _fence)" if fenced else ""
    ran = " AND EXISTS (SELECT 1 FROM _run)"
    if reset == "cancel":
        return (
            f"_cancel AS (UPDATE {tasks} SET {status} = 'canceled' "
            f"WHERE {run_col} = %s AND {status} = 'running'{mine}{ran})",
            f"_unqueue AS (DELETE FROM {tasks} WHERE {run_col} = %s AND {status} = 'queued'{ran})",
        )
    return (f"_drop AS (DELETE FROM {tasks} WHERE {run_col} = %s{mine}{ran})",)


@cache
def _steps_cte() -> str:
    rows = f"jsonb_populate_recordset(NULL::{table(STEPS)}, %s::jsonb) AS _v"
    picked = ", ".join(f"_v.{q(c)}" for c in STEP_WRITE)
    insert = f"INSERT INTO {table(STEPS)} ({q(*STEP_WRITE)}) SELECT {picked} FROM _run, {rows}"
    return f"_steps AS ({insert} {upsert_tail()})"


@cache
def _events_cte() -> str:
    rows = f"jsonb_populate_recordset(NULL::{table(EVENTS)}, %s::jsonb) AS _v"
    picked = ", ".join(("_run.base + _v." if c == "seq" else "_v.") + q(c) for c in EVENT_WRITE)
    insert = f"INSERT INTO {table(EVENTS)} ({q(*EVENT_WRITE)}) SELECT {picked} FROM _run, {rows}"
    return f"_events AS ({insert})"


@cache
def _tasks_cte() -> str:
    spec = (
        "key text, handout bigint, kind text, queue text, delay_ms bigint, owner text, lease_ms bigint, "
        "limit_key text, limit_n bigint, rate_n bigint, rate_ms bigint"
    )
    now = "(SELECT ms FROM _now)"
    values = (
        f"%s::text, _v.key, _v.handout, _v.kind, _v.queue, "
        f"CASE WHEN _v.owner = '' THEN 'queued' ELSE 'running' END, {now} + _v.delay_ms, _v.owner, "
        f"CASE WHEN _v.owner = '' THEN 0 ELSE 1 END, "
        f"CASE WHEN _v.owner = '' THEN NULL ELSE {now} + _v.lease_ms END, "
        f"0, {now}, _v.limit_key, _v.limit_n, _v.rate_n, _v.rate_ms"
    )
    source = f"_run, jsonb_to_recordset(%s::jsonb) AS _v({spec})"
    return f"_tasks AS (INSERT INTO {table(TASKS)} ({task_columns()}) SELECT {values} FROM {source})"
