"""The step rows ``plan`` reads back inside a commit (``core.plan._rows``).

A run state names the rows that hold its values instead of holding them; these
reads bring a value back when the planner needs it. They run on the commit's
connection, inside its transaction where it has one: on PostgreSQL's unlocked
path a commit that read rows newer than the run it decided on fails its version
check, and is decided again under the run-row lock.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import connection

from ..core.storage import STEP_FIELDS, StepRecord
from ._sql import NO_INDEX, STEP_KEY, STEPS, q, read, table

Coordinate = tuple[str, int | None, int, int]
_COLUMNS = (*STEP_KEY[1:], *STEP_FIELDS)


def read_steps(run_id: str, coordinates: Sequence[Coordinate]) -> list[StepRecord]:
    """The rows at these coordinates, in one query."""
    if not coordinates:
        return []
    one = (
        f"({q('path')} = %s AND {q('foreach_index')} = %s AND {q('iteration')} = %s AND {q('attempt')} = %s)"
    )
    params: list[Any] = [run_id]
    for path, index, iteration, attempt in coordinates:
        params += [path, NO_INDEX if index is None else index, iteration, attempt]
    where = " OR ".join([one] * len(coordinates))
    return _select(f"{q('run_id')} = %s AND ({where})", params)


def read_items(run_id: str, path: str, iteration: int) -> list[StepRecord]:
    """The rows of the foreach items of ``path`` at ``iteration``, every attempt."""
    where = (
        f"{q('run_id')} = %s AND {q('path')} = %s AND {q('iteration')} = %s AND {q('foreach_index')} <> %s"
    )
    return _select(where, [run_id, path, iteration, NO_INDEX])


def read_output_item(run_id: str, coordinate: Coordinate, index: int) -> Any:
    """One element of a row's list output, taken out by the database (the list never travels)."""
    path, item, iteration, attempt = coordinate
    params: list[Any] = [run_id, path, NO_INDEX if item is None else item, iteration, attempt]
    element = _element_sql(connection.vendor)
    if element is None:
        rows = read_steps(run_id, [coordinate])
        output = rows[0].output if rows else None
        return output[index] if isinstance(output, list) and 0 <= index < len(output) else None
    with connection.cursor() as cursor:
        where: Any = f"$[{index}]" if connection.vendor == "sqlite" else index
        cursor.execute(element, [where, *params])
        found = cursor.fetchone()
    return None if found is None or found[0] is None else json.loads(found[0])


@cache
def _element_sql(vendor: str) -> str | None:
    if vendor == "postgresql":
        value = f"({q('output')} -> (%s)::int)::text"
    elif vendor == "sqlite":
        value = f"{q('output')} -> %s"
    else:
        return None
    where = " AND ".join(f"{q(c)} = %s" for c in STEP_KEY)
    return f"SELECT {value} FROM {table(STEPS)} WHERE {where}"


def _select(where: str, params: list[Any]) -> list[StepRecord]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {q(*_COLUMNS)} FROM {table(STEPS)} WHERE {where}", params)
        found = cursor.fetchall()
    records = []
    for row in found:
        values = {column: read(STEPS, column, value) for column, value in zip(_COLUMNS, row, strict=True)}
        if values["foreach_index"] == NO_INDEX:
            values["foreach_index"] = None
        records.append(StepRecord(**values))
    return records
