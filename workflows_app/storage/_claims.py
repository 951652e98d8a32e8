"""The claim statement: a queue's oldest due rows, of one limit key or of none, leased to a worker.

On PostgreSQL the rows are picked with ``FOR UPDATE SKIP LOCKED`` (concurrent
claimers take disjoint rows without waiting), then updated; on SQLite, one
writer at a time, a conditional ``UPDATE ... RETURNING``. Each claimed row gets
a new lease number; RETURNING keeps no order, so the rows are sorted again.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from ..core.storage import Claim
from ._sql import TASK_CLAIM, TASKS, now_sql, q, table


def take(
    cursor: Any,
    queues: Sequence[str],
    owner: str,
    limit: int,
    lease_ms: int,
    now: int | None,
    key: str | None = None,
) -> list[Claim]:
    """Claim up to ``limit`` due rows of ``queues``: ungated ones, or with ``key``, that key's."""
    vendor = cursor.db.vendor
    due = [*queues, now, *([] if key is None else [key]), limit]
    sets = [owner, now, lease_ms]
    cursor.execute(
        _claim_sql(vendor, len(queues), key is not None),
        [*due, *sets] if vendor == "postgresql" else [*sets, *due],
    )
    rows = sorted(cursor.fetchall(), key=lambda r: (r[-2], r[-1]))
    limited = key is not None
    return [Claim(str(r[0]), str(r[1]), int(r[2]), str(r[3]), int(r[4]), int(r[5]), limited) for r in rows]


@cache
def _claim_sql(vendor: str, queues: int, keyed: bool) -> str:
    now = now_sql(vendor)
    due = (
        f"SELECT {q('id')} FROM {table(TASKS)} WHERE {q('queue')} IN ({', '.join(['%s'] * queues)}) "
        f"AND {q('status')} = 'queued' AND {q('available_at')} <= {now} "
        f"AND {q('limit_key')} = {'%s' if keyed else repr('')} "
        f"ORDER BY {q('available_at')}, {q('id')} LIMIT %s"
    )
    sets = (
        f"{q('status')} = 'running', {q('owner')} = %s, {q('lease')} = {q('lease')} + 1, "
        f"{q('lease_until')} = {now} + %s"
    )
    columns = (*TASK_CLAIM, "available_at", "id")
    if vendor == "postgresql":
        return (
            f"WITH _due AS ({due} FOR UPDATE SKIP LOCKED) UPDATE {table(TASKS)} SET {sets} "
            f"FROM _due WHERE {table(TASKS)}.{q('id')} = _due.{q('id')} RETURNING "
            + ", ".join(f"{table(TASKS)}.{q(c)}" for c in columns)
        )
    return (
        f"UPDATE {table(TASKS)} SET {sets} WHERE {q('id')} IN ({due}) AND {q('status')} = 'queued' "
        f"RETURNING {', '.join(q(c) for c in columns)}"
    )
