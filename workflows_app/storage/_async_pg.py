"""PostgreSQL connections of the event loop itself, for the statement every step makes.

Every ORM call of a process goes through asgiref's one executor thread. On a
busy machine the hop there and back costs more than a round trip to
PostgreSQL (bench/capacity.py, docs/benchmarks.md). A worker's commit of a
task's outcome needs no ORM: it is one statement (:mod:`._postgres`), so it
is sent here, on a connection of the running loop in autocommit (the statement
is atomic on its own). Everything else (reads, claims, commits inside a
caller's transaction) stays on Django's connection.

Each loop keeps at most ``POOL_SIZE`` connections, opened on first use with the
settings of Django's ``default`` alias and closed when the loop shuts down
(``asyncio.run`` and test loops close their async generators then). A
connection whose statement failed or was interrupted is closed, never reused.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any

import psycopg
from django.db import connections

POOL_SIZE = 4


class _Pool:
    """The connections of one event loop."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.idle: list[psycopg.AsyncConnection[Any]] = []
        self.slots = asyncio.Semaphore(POOL_SIZE)
        self.closer: AsyncIterator[None] | None = None

    async def afetchone(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        async with self.slots:
            conn = self.idle.pop() if self.idle else await psycopg.AsyncConnection.connect(**self.params)
            try:
                cursor = await conn.execute(sql, params)
                row = await cursor.fetchone()
            except BaseException:
                await conn.close()  # its state is unknown: never reused
                raise
            self.idle.append(conn)
            return row

    async def aclose(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            await conn.close()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()


async def _close_at_shutdown(pool: _Pool) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await pool.aclose()


def _connection_params() -> dict[str, Any]:
    params: dict[str, Any] = connections["default"].get_connection_params()
    params.pop("cursor_factory", None)  # Django's are synchronous; these are the loop's
    return {**params, "autocommit": True, "cursor_factory": psycopg.AsyncClientCursor}


async def afetchone(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """Run one statement on a connection of this loop; its first row."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = _Pool(_connection_params())
        pool.closer = _close_at_shutdown(pool)
        await anext(pool.closer)
    return await pool.afetchone(sql, params)


def supported() -> bool:
    """Whether the ``default`` alias is PostgreSQL (SQLite has one writer: its thread is enough)."""
    return bool(connections["default"].vendor == "postgresql")
