"""The claim of gated task rows: concurrency and rate limits (see ``core/limits.py``).

SKIP LOCKED alone would let two claimers each count the same free slot and both
take it, so rows of a key are claimed one key at a time, in a transaction that
first serializes every claimer of that key: on PostgreSQL a transaction-scoped
advisory lock on the key, on SQLite the write lock its IMMEDIATE transaction
takes. Under it, the slots in use are counted from the rows themselves (held
rows of the key, plus a workflow key's runs that started and have not ended) and
the rate from the key's recent claims (``LimitStart`` rows), so nothing can
drift out of step with the work: a row that ends, is swept back or deleted stops
counting at once. Rows of a key are taken oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from django.db import connection, transaction

from ..core.limits import HOLDING
from ..core.storage import Claim
from ..models import LimitStart
from ._claims import take
from ._sql import RUNS, TASKS, now_sql, q, table

_KEYS_PER_CLAIM = 20  # keys with room visited by one claim; the oldest waiting first
_LOCK_SPACE = 0x77666C6D  # the advisory lock space of limit keys ("wflm")


def claim_gated(queues: Sequence[str], owner: str, room: int, lease_ms: int, now: int | None) -> list[Claim]:
    """Claim up to ``room`` gated rows of ``queues`` whose keys have room."""
    claims: list[Claim] = []
    for key in _open_keys(queues, now):
        if len(claims) >= room:
            break
        with transaction.atomic():
            claims += _claim_key(key, queues, owner, room - len(claims), lease_ms, now)
    return claims


def forget_starts(now: int | None) -> None:
    """Delete the rate claims whose window has passed (the sweeper's chore)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table(LimitStart)} WHERE {q('until')} <= {now_sql(connection.vendor)}", [now]
        )


def _open_keys(queues: Sequence[str], now: int | None) -> list[str]:
    """Keys with due rows waiting and, as far as a read without locks can tell, a free slot."""
    with connection.cursor() as cursor:
        cursor.execute(_open_keys_sql(connection.vendor, len(queues)), [*queues, now, _KEYS_PER_CLAIM])
        return [str(row[0]) for row in cursor.fetchall()]


def _claim_key(
    key: str, queues: Sequence[str], owner: str, room: int, lease_ms: int, now: int | None
) -> list[Claim]:
    vendor = connection.vendor
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_LOCK_SPACE, key])
        cursor.execute(_oldest_sql(vendor, len(queues)), [key, *queues, now])
        oldest = cursor.fetchone()
        if oldest is None:
            return []
        limit_n, rate_n, rate_ms = (int(value) for value in oldest)
        room_left = room
        if limit_n:
            cursor.execute(_held_sql(vendor), [key, key])
            room_left = min(room_left, limit_n - int(cursor.fetchone()[0]))
        if rate_n:
            cursor.execute(_started_sql(vendor), [key, now])
            room_left = min(room_left, rate_n - int(cursor.fetchone()[0]))
        if room_left <= 0:
            return []
        claims = take(cursor, queues, owner, room_left, lease_ms, now, key)
        if rate_n and claims:
            values = ", ".join([f"(%s, {now_sql(vendor)} + %s)"] * len(claims))
            cursor.execute(
                f"INSERT INTO {table(LimitStart)} ({q('key', 'until')}) VALUES {values}",
                [key, now, rate_ms] * len(claims),
            )
    return claims


def _held(key_sql: str) -> str:
    """The slots of a key in use: its held rows, and a workflow key's runs started and not ended."""
    statuses = ", ".join(f"'{status}'" for status in HOLDING)
    return (
        f"(SELECT count(*) FROM {table(TASKS)} u WHERE u.{q('limit_key')} = {key_sql} "
        f"AND u.{q('limit_key')} <> '' AND u.{q('status')} <> 'queued') + "
        f"(SELECT count(*) FROM {table(RUNS)} r WHERE r.{q('limit_key')} = {key_sql} "
        f"AND r.{q('limit_key')} <> '' AND r.{q('status')} IN ({statuses}))"
    )


def _due(vendor: str, queues: int, alias: str = "") -> str:
    a = f"{alias}." if alias else ""
    return (
        f"{a}{q('queue')} IN ({', '.join(['%s'] * queues)}) AND {a}{q('status')} = 'queued' "
        f"AND {a}{q('available_at')} <= {now_sql(vendor)}"
    )


@cache
def _open_keys_sql(vendor: str, queues: int) -> str:
    key = f"t.{q('limit_key')}"
    return (
        f"SELECT {key} FROM {table(TASKS)} t WHERE {_due(vendor, queues, 't')} AND {key} <> '' "
        f"GROUP BY {key} HAVING MAX(t.{q('limit_n')}) = 0 OR {_held(key)} < MAX(t.{q('limit_n')}) "
        f"ORDER BY MIN(t.{q('available_at')}), MIN(t.{q('id')}) LIMIT %s"
    )


@cache
def _oldest_sql(vendor: str, queues: int) -> str:
    return (
        f"SELECT {q('limit_n', 'rate_n', 'rate_ms')} FROM {table(TASKS)} "
        f"WHERE {q('limit_key')} = %s AND {_due(vendor, queues)} "
        f"ORDER BY {q('available_at')}, {q('id')} LIMIT 1"
    )


@cache
def _held_sql(vendor: str) -> str:
    return f"SELECT {_held('%s')}"


@cache
def _started_sql(vendor: str) -> str:
    return (
        f"SELECT count(*) FROM {table(LimitStart)} WHERE {q('key')} = %s AND {q('until')} > {now_sql(vendor)}"
    )
