"""The task queue in the database: claims, leases, the sweeper, heartbeats.

Every transition is one conditional statement whose result says who won
(docs/architecture.md has the table): a claim takes queued, due rows (on
PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so concurrent claimers take disjoint
rows without waiting; SQLite has one writer at a time); renewing, releasing and
dropping a claim require its lease number; the sweeper takes back only leases
that expired, and two sweepers cannot both take one back (the second finds the
row queued). Times are the database's clock unless the storage was given one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from ..core.storage import Claim
from ..models import WorkerHeartbeat
from ._claims import take
from ._commit import fence_match
from ._limits import claim_gated, forget_starts
from ._sql import TASKS, now_sql, q, table


def claim(
    queues: Sequence[str], owner: str, limit: int, lease_ms: int, now: int | None, gated: bool = True
) -> list[Claim]:
    """Claim up to ``limit`` due rows of ``queues``, oldest first, each with a new lease number.

    Rows without a gate first, in one statement; then gated rows whose keys
    have room (:mod:`._limits`).
    """
    if not queues or limit <= 0:
        return []
    with connection.cursor() as cursor:
        claims = take(cursor, queues, owner, limit, lease_ms, now)
    if gated and len(claims) < limit:
        claims += claim_gated(queues, owner, limit - len(claims), lease_ms, now)
    return claims


def renew(claims: Sequence[Claim], lease_ms: int, now: int | None) -> set[tuple[str, str, int, int]]:
    """Extend the leases still held; the fences of those."""
    kept: set[tuple[str, str, int, int]] = set()
    for start in range(0, len(claims), 200):
        chunk = claims[start : start + 200]
        where, params = fence_match(chunk)
        sql = (
            f"UPDATE {table(TASKS)} SET {q('lease_until')} = {now_sql(connection.vendor)} + %s "
            f"WHERE {q('status')} = 'running' AND ({where}) "
            f"RETURNING {q('run_id', 'key', 'handout', 'lease')}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [now, lease_ms, *params])
            kept |= {(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in cursor.fetchall()}
    return kept


def release(held: Claim, delay_ms: int, now: int | None) -> bool:
    """Give a held row back to the queue without counting a delivery."""
    where, params = fence_match([held])
    sql = (
        f"UPDATE {table(TASKS)} SET {q('status')} = 'queued', {q('owner')} = '', "
        f"{q('available_at')} = {now_sql(connection.vendor)} + %s "
        f"WHERE {q('status')} = 'running' AND ({where})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, delay_ms, *params])
        return bool(cursor.rowcount == 1)


def sweep(queues: Sequence[str], now: int | None) -> int:
    """Take back expired leases (one more delivery each); delete canceled rows whose lease ended."""
    if not queues:
        return 0
    vendor = connection.vendor
    names = ", ".join(["%s"] * len(queues))
    expired = f"{q('queue')} IN ({names}) AND {q('lease_until')} < {now_sql(vendor)}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table(TASKS)} SET {q('status')} = 'queued', {q('owner')} = '', "
            f"{q('deliveries')} = {q('deliveries')} + 1, {q('available_at')} = {now_sql(vendor)} "
            f"WHERE {q('status')} = 'running' AND {expired}",
            [now, *queues, now],
        )
        taken = int(cursor.rowcount)
        cursor.execute(
            f"DELETE FROM {table(TASKS)} WHERE {q('status')} = 'canceled' AND {expired}", [*queues, now]
        )
    forget_starts(now)
    return taken


def holders(run_id: str, now: int | None) -> set[str]:
    sql = (
        f"SELECT DISTINCT {q('owner')} FROM {table(TASKS)} WHERE {q('run_id')} = %s "
        f"AND {q('status')} <> 'queued' AND {q('lease_until')} >= {now_sql(connection.vendor)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_id, now])
        return {str(row[0]) for row in cursor.fetchall()}


def owes(run_id: str, kinds: Sequence[str]) -> bool:
    sql = (
        f"SELECT 1 FROM {table(TASKS)} WHERE {q('run_id')} = %s "
        f"AND {q('kind')} IN ({', '.join(['%s'] * len(kinds))}) LIMIT 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_id, *kinds])
        return cursor.fetchone() is not None


def heartbeat(worker: str, info: dict[str, Any]) -> None:
    fields: dict[str, Any] = {
        key: info[key] for key in ("host", "pid", "concurrency", "running") if key in info
    }
    WorkerHeartbeat.objects.update_or_create(worker=worker, defaults={**fields, "last_seen": timezone.now()})


def live_workers(since: datetime) -> list[dict[str, Any]]:
    return [dict(row) for row in WorkerHeartbeat.objects.filter(last_seen__gte=since).values()]
