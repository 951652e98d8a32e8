"""What the storage's SQL shares: names, values adapted as the models' fields would, the clock.

The statements every step makes go as SQL on Django's connection: through the
ORM, building them cost several times what the database took to run them.
Values are adapted the way the models' fields would: JSON through the models'
encoder (``None`` stays SQL ``NULL``, as the ORM stores it), datetimes through
the backend's operations. Table and column names come from the models'
metadata only; values are always parameters.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import JSONField, Model
from django.utils.dateparse import parse_datetime

from ..models import StepAttempt, WorkflowJSONEncoder, WorkflowRun, WorkflowTask

NO_INDEX = -1  # foreach_index outside a foreach item (NULL would defeat the unique constraint)

# RunRecord fields and the columns that hold them.
RUN_COLUMNS: dict[str, str] = {
    "workflow_id": "workflow_id",
    "status": "status",
    "resource_id": "resource_id",
    "input": "input",
    "run_state": "run_state",
    "request_context": "request_context",
    "state": "state",
    "result": "result",
    "error": "error",
    "definition_hash": "definition_hash",
    "engine": "engine",
    "generation": "generation",
    "version": "version",
    "parent_run_id": "parent_run_id",
    "snapshot": "snapshot",
    "owner": "started_by_id",
    "limit_key": "limit_key",
    "trace_context": "trace_context",
}
RUN_READ = ("run_id", *RUN_COLUMNS.values(), "last_seq", "created_at", "updated_at")
STEP_KEY = ("run_id", "path", "foreach_index", "iteration", "attempt")
TASK_CLAIM = ("run_id", "key", "handout", "kind", "lease", "deliveries")
GATE = ("limit_key", "limit_n", "rate_n", "rate_ms")  # a task row's limit (core/limits.py: Gate)

_NOW = {
    "postgresql": "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint",
    "sqlite": "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
}


def now_sql(vendor: str) -> str:
    """Epoch milliseconds on the database's clock, unless the storage was given a clock.

    The expression takes one parameter: the given clock's reading, or ``NULL``.
    """
    cast = "%s::bigint" if vendor == "postgresql" else "%s"
    return f"COALESCE({cast}, {_NOW.get(vendor, _NOW['sqlite'])})"


@cache
def quoted(vendor: str, *names: str) -> str:
    """Comma-separated quoted identifiers (cached: quoting goes through ``connection.ops``)."""
    return ", ".join(connection.ops.quote_name(name) for name in names)


def q(*names: str) -> str:
    return quoted(connection.vendor, *names)


def table(model: type[Model]) -> str:
    return q(model._meta.db_table)


RUNS = WorkflowRun
STEPS = StepAttempt
TASKS = WorkflowTask


@cache
def json_columns(model: type[Model]) -> frozenset[str]:
    return frozenset(str(f.column) for f in model._meta.concrete_fields if isinstance(f, JSONField))


@cache
def datetime_columns(model: type[Model]) -> frozenset[str]:
    return frozenset(
        str(f.column) for f in model._meta.concrete_fields if f.get_internal_type() == "DateTimeField"
    )


_PLAIN, _JSON, _DATETIME = 0, 1, 2


@cache
def column_kinds(model: type[Model], columns: tuple[str, ...]) -> tuple[int, ...]:
    """How each column's values are adapted, worked out once per model and column list."""
    json_, datetimes = json_columns(model), datetime_columns(model)
    return tuple(_JSON if c in json_ else _DATETIME if c in datetimes else _PLAIN for c in columns)


def adapt(model: type[Model], column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in json_columns(model):
        return connection.ops.adapt_json_value(value, WorkflowJSONEncoder)
    if column in datetime_columns(model):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def adapt_values(model: type[Model], columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[Any]:
    """The rows' values in one list, each adapted to its column as :func:`adapt` does.

    Every commit adapts a few dozen values: the column kinds and the backend's
    operations are looked up once per call here, not once per value.
    """
    kinds = column_kinds(model, columns)
    ops = connection.ops
    values: list[Any] = []
    append = values.append
    for row in rows:
        for kind, value in zip(kinds, row, strict=True):
            if value is None or kind == _PLAIN:
                append(value)
            elif kind == _JSON:
                append(ops.adapt_json_value(value, WorkflowJSONEncoder))
            else:
                append(ops.adapt_datetimefield_value(value))
    return values


def read(model: type[Model], column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in json_columns(model):
        return json.loads(value) if isinstance(value, str | bytes) else value
    if column in datetime_columns(model):
        moment = value if isinstance(value, datetime) else parse_datetime(str(value))
        if moment is not None and moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment
    return value


def placeholders(width: int, count: int) -> str:
    return ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * count)


def json_rows(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    """Rows as one JSON array of objects: one parameter for PostgreSQL's ``jsonb_*_recordset``."""
    return json.dumps([dict(zip(columns, row, strict=True)) for row in rows], cls=WorkflowJSONEncoder)
